"""test_systemd.py - packaging/systemd: both units pass `systemd-analyze
verify` unchanged, keep their sandbox, and stay below an exposure score.

verify checks that ExecStart's program exists and is executable, and that the
man pages of Documentation= exist, so it runs with --root on a temporary tree
laid out like an installed system: the units as shipped in
/lib/systemd/system, the built daemons copied to /usr/sbin, the manual pages
of packaging/man, /bin/kill for ExecReload, and the host's systemd units for
the targets they order against. Nothing in the units is rewritten.
"""

import os
import shutil
import tempfile
import unittest
from pathlib import Path

from aviary_test.packaging_case import PACKAGING, run
from aviary_test.programs import program, tool

UNITS = {"aviary-smtpd.service": "aviary-smtpd", "aviary-pop3d.service": "aviary-pop3d"}
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def make_root(directory, binaries, man_pages=()):
    """An installed-system tree under `directory` for systemd-analyze --root;
    `binaries` maps /usr/sbin names to the files to copy there, `man_pages`
    are copied to /usr/share/man/man8."""
    root = Path(directory)
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")  # Debian 12 has merged /usr
    (root / "lib").symlink_to("usr/lib")
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy2("/usr/bin/kill", root / "usr/bin/kill")
    for name, source in binaries.items():
        shutil.copy2(source, root / "usr/sbin" / name)
    (root / "usr/share/man/man8").mkdir(parents=True)
    for page in man_pages:
        shutil.copy2(page, root / "usr/share/man/man8")
    return root


def verify(root, unit_path):
    """systemd-analyze verify; returns (exit code, output): (0, "") is a pass.

    verify also runs `man` for each man: URL in Documentation=; MANPATH
    points it at the tree's pages."""
    env = {**os.environ, "MANPATH": str(Path(root) / "usr/share/man")}
    r = run([tool("systemd-analyze"), "verify", f"--root={root}", unit_path], check=False, timeout=60, env=env)
    return r.returncode, (r.stdout + r.stderr).strip()


def directives(text):
    """{key: [values]} of a unit file's assignments."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


class UnitsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aviary-systemd-")
        cls.root = make_root(Path(cls.tmp) / "root", {b: program(b) for b in UNITS.values()},
                             sorted((PACKAGING / "man").glob("*.8")))
        for unit in UNITS:
            shutil.copy2(PACKAGING / "systemd" / unit, cls.root / "lib/systemd/system" / unit)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_verify(self):
        for unit in UNITS:
            with self.subTest(unit=unit):
                code, output = verify(self.root, self.root / "lib/systemd/system" / unit)
                self.assertEqual((code, output), (0, ""), f"systemd-analyze verify {unit}")

    def test_verify_notices_a_missing_program(self):
        # The check above is only worth something if verify really looks for
        # ExecStart's program inside the root.
        with tempfile.TemporaryDirectory() as tmp:
            root = make_root(Path(tmp) / "root", {})
            shutil.copy2(PACKAGING / "systemd/aviary-smtpd.service", root / "lib/systemd/system")
            code, output = verify(root, root / "lib/systemd/system/aviary-smtpd.service")
            self.assertNotEqual(code, 0)
            self.assertIn("/usr/sbin/aviary-smtpd", output)

    def test_sandbox(self):
        for unit, binary in UNITS.items():
            with self.subTest(unit=unit):
                d = directives((PACKAGING / "systemd" / unit).read_text())
                expected = {
                    "Type": ["notify"],
                    "NotifyAccess": ["main"],
                    "ExecStart": [f"/usr/sbin/{binary} -c /etc/aviary/aviary.toml"],
                    "ExecReload": ["/bin/kill -HUP $MAINPID"],
                    "Restart": ["on-failure"],
                    "NoNewPrivileges": ["yes"],
                    "ProtectSystem": ["strict"],
                    "ReadWritePaths": ["/var/lib/aviary"],
                    "PrivateTmp": ["yes"],
                    "PrivateDevices": ["yes"],
                    "ProtectHome": ["yes"],
                    "ProtectKernelTunables": ["yes"],
                    "ProtectKernelModules": ["yes"],
                    "ProtectKernelLogs": ["yes"],
                    "ProtectControlGroups": ["yes"],
                    "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
                    "AmbientCapabilities": [""],
                    "SystemCallFilter": ["@system-service"],
                    "WantedBy": ["multi-user.target"],
                }
                for key, values in expected.items():
                    self.assertEqual(d.get(key), values, key)
                self.assertNotIn("User", d, "the daemon drops root itself, after binding")
                caps = set(d["CapabilityBoundingSet"][0].split())
                self.assertEqual(caps, {"CAP_NET_BIND_SERVICE", "CAP_DAC_OVERRIDE", "CAP_CHOWN",
                                        "CAP_SETUID", "CAP_SETGID"})
                self.assertGreaterEqual(int(d["LimitNOFILE"][0]), 4096)

    def test_exposure(self):
        # systemd's own rating of the sandbox: 2.5 now ("OK"); fail if a change
        # pushes it past 3.0.
        for unit in UNITS:
            with self.subTest(unit=unit):
                r = run([tool("systemd-analyze"), "security", "--offline=true", f"--root={self.root}",
                         "--threshold=30", "--no-pager", unit], check=False, timeout=60)
                lines = (r.stdout + r.stderr).strip().splitlines()
                self.assertEqual(r.returncode, 0, "\n".join(lines[-30:]))
                self.assertRegex(lines[-1], r"Overall exposure level for .*: [0-2]\.\d|3\.0")


if __name__ == "__main__":
    unittest.main()


class ReadinessTest(unittest.TestCase):
    """Type=notify: each daemon tells systemd READY=1 once it serves, and
    STOPPING=1 on SIGTERM, through the datagram socket in $NOTIFY_SOCKET."""

    def test_ready_then_stopping(self):
        import signal
        import socket
        import time

        from aviary_test.packaging_case import greet, packaging_daemons, stop_all

        daemons = packaging_daemons()
        self.addCleanup(daemons.cleanup)
        path = str(daemons.dir / "notify.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.settimeout(1)

        def messages(until, timeout=20):
            got = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until(got):
                try:
                    data, _ = listener.recvfrom(4096)
                except socket.timeout:
                    continue
                got.append(data.decode())
            return got

        daemons.start(pop3d=True, env={"NOTIFY_SOCKET": path})
        ready = messages(lambda got: sum("READY=1" in m.split("\n") for m in got) >= 2)
        self.assertEqual(sum("READY=1" in m.split("\n") for m in ready), 2, ready)
        # Ready means serving: both greet right away.
        self.assertTrue(greet(daemons.smtp_port).startswith(b"220"))
        self.assertTrue(greet(daemons.pop3_port).startswith(b"+OK"))
        for proc in (daemons.smtpd, daemons.pop3d):
            proc.signal(signal.SIGTERM)
        stopping = messages(lambda got: sum("STOPPING=1" in m.split("\n") for m in got) >= 2)
        self.assertEqual(sum("STOPPING=1" in m.split("\n") for m in stopping), 2, stopping)
        self.assertEqual(stop_all(daemons), {"aviary-smtpd": 0, "aviary-pop3d": 0})
