"""test_deb.py - the Debian package CPack makes of the build (packaging/).

cpack runs on the test's build directory (AVIARY_BUILD) with its output in a
temporary directory, then the .deb is checked from outside (dpkg-deb -I/-c),
from inside (the extracted maintainer scripts and files), by systemd (the
extracted units verified against the extracted daemons) and by lintian,
whose errors fail the test. Nothing is installed on this machine.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from aviary_test.packaging_case import PACKAGING, run
from aviary_test.programs import build_dir, tool
from test_systemd import make_root, verify

EXPECTED_FILES = {
    "./usr/sbin/aviary-smtpd": "-rwxr-xr-x",
    "./usr/sbin/aviary-pop3d": "-rwxr-xr-x",
    "./usr/bin/aviaryctl": "-rwxr-xr-x",
    "./lib/systemd/system/aviary-smtpd.service": "-rw-r--r--",
    "./lib/systemd/system/aviary-pop3d.service": "-rw-r--r--",
    "./etc/aviary/aviary.toml": "-rw-r--r--",
    "./usr/share/doc/aviary/copyright": "-rw-r--r--",
    "./usr/share/doc/aviary/changelog.gz": "-rw-r--r--",
    "./usr/share/doc/aviary/README.md": "-rw-r--r--",
    "./usr/share/man/man8/aviary-smtpd.8.gz": "-rw-r--r--",
    "./usr/share/man/man8/aviary-pop3d.8.gz": "-rw-r--r--",
    "./usr/share/man/man1/aviaryctl.1.gz": "-rw-r--r--",
    "./var/lib/aviary/": "drwxr-xr-x",
}


class DebianPackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        build = build_dir()
        config = build / "CPackConfig.cmake"
        if not config.exists():
            raise AssertionError(f"{config} does not exist: configure the build first (or set AVIARY_BUILD)")
        cls.tmp = Path(tempfile.mkdtemp(prefix="aviary-deb-"))
        try:
            r = run([tool("cpack"), "--config", config, "-B", cls.tmp / "out"], timeout=300, cwd=build)
            debs = sorted((cls.tmp / "out").glob("*.deb"))
            if len(debs) != 1:
                raise AssertionError(f"cpack made {debs}, not one .deb:\n{r.stdout}{r.stderr}")
            cls.deb = debs[0]
            cls.control = cls.tmp / "control"
            run([tool("dpkg-deb"), "--control", cls.deb, cls.control])
            cls.root = cls.tmp / "root"
            run([tool("dpkg-deb"), "--extract", cls.deb, cls.root])
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return run([tool("dpkg-deb"), "--field", self.deb, name]).stdout.strip()

    def test_file_name_and_control_fields(self):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(self.deb.name, f"aviary_{self.field('Version')}_{arch}.deb")
        self.assertEqual(self.field("Package"), "aviary")
        self.assertEqual(self.field("Section"), "mail")
        self.assertEqual(self.field("Architecture"), arch)
        self.assertRegex(self.field("Maintainer"), r"^[^<>]+ <[^<>@\s]+@[^<>@\s]+>$")
        self.assertTrue(self.field("Description").startswith("multi-domain mail server"))
        depends = [d.strip() for d in self.field("Depends").split(",")]
        self.assertIn("adduser", depends)
        # dpkg-shlibdeps ran: the libraries the daemons link are there.
        for library in ("libc6", "liblmdb0", "libssl3", "libargon2-1"):
            self.assertTrue(any(d.startswith(library + " ") or d == library for d in depends), (library, depends))
        # Not a drop-in MTA: no /usr/sbin/sendmail (see packaging/CMakeLists.txt).
        self.assertEqual(self.field("Provides"), "")

    def test_contents(self):
        listing = run([tool("dpkg-deb"), "--contents", self.deb]).stdout
        entries = {}
        for line in listing.splitlines():
            mode, owner, _size, _date, _time, path = line.split(None, 5)
            entries[path.split(" -> ")[0]] = (mode, owner)
        for path, mode in EXPECTED_FILES.items():
            self.assertIn(path, entries)
            self.assertEqual(entries[path], (mode, "root/root"), path)
        # Only what the package means to ship, nothing else of the build
        # (tests, benchmarks, headers, static libraries).
        allowed = set(EXPECTED_FILES) | {p for path in EXPECTED_FILES for p in parents(path)}
        self.assertEqual(set(entries) - allowed, set())

    def test_installed_files_are_the_sources(self):
        self.assertEqual((self.root / "etc/aviary/aviary.toml").read_bytes(), (PACKAGING / "aviary.toml").read_bytes())
        for unit in ("aviary-smtpd.service", "aviary-pop3d.service"):
            self.assertEqual((self.root / "lib/systemd/system" / unit).read_bytes(),
                             (PACKAGING / "systemd" / unit).read_bytes())

    def test_binaries_are_stripped(self):
        for path in ("usr/sbin/aviary-smtpd", "usr/sbin/aviary-pop3d", "usr/bin/aviaryctl"):
            sections = run(["readelf", "--section-headers", "--wide", self.root / path]).stdout
            self.assertNotIn(".symtab", sections, path)
            self.assertNotIn(".debug_info", sections, path)

    def test_conffiles(self):
        self.assertEqual((self.control / "conffiles").read_text(), "/etc/aviary/aviary.toml\n")

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            with self.subTest(script=name):
                path = self.control / name
                self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o755)
                text = path.read_text()
                self.assertTrue(text.startswith("#!/bin/sh\n"))
                self.assertRegex(text, r"(?m)^set -e$")
                run(["sh", "-n", path])
                run(["dash", "-n", path])
        postinst = (self.control / "postinst").read_text()
        self.assertIn("adduser --quiet --system --group --home /var/lib/aviary --no-create-home", postinst)
        self.assertIn("chown aviary:aviary /var/lib/aviary", postinst)
        self.assertIn("chmod 0750 /var/lib/aviary", postinst)
        self.assertIn("deb-systemd-helper enable", postinst)
        # Debian policy 9.2.1: the system user stays on purge; so does the mail.
        postrm = (self.control / "postrm").read_text()
        self.assertNotRegex(postrm, r"(?m)^[^#]*\b(deluser|userdel|delgroup|groupdel)\b")
        self.assertNotRegex(postrm, r"(?m)^[^#]*rm -[a-z]*r[a-z]* .*/var/lib/aviary")

    def test_maintainer_scripts_shellcheck(self):
        shellcheck = shutil.which("shellcheck")
        if not shellcheck:
            self.skipTest("shellcheck is not installed (optional; sh -n and lintian still check the scripts)")
        run([shellcheck, "--shell=sh", *(self.control / n for n in ("postinst", "prerm", "postrm"))])

    def test_units_verify_against_the_packaged_daemons(self):
        # A system tree with this package's files: the units exactly as
        # installed, the daemons exactly as packaged.
        root = make_root(self.tmp / "verify", {}, sorted((self.root / "usr/share/man/man8").glob("*.8.gz")))
        for unit in ("aviary-smtpd.service", "aviary-pop3d.service"):
            shutil.copy2(self.root / "lib/systemd/system" / unit, root / "lib/systemd/system" / unit)
        for daemon in ("aviary-smtpd", "aviary-pop3d"):
            shutil.copy2(self.root / "usr/sbin" / daemon, root / "usr/sbin" / daemon)
        for unit in ("aviary-smtpd.service", "aviary-pop3d.service"):
            code, output = verify(root, root / "lib/systemd/system" / unit)
            self.assertEqual((code, output), (0, ""), unit)

    def test_packaged_programs_run(self):
        for path in ("usr/sbin/aviary-smtpd", "usr/sbin/aviary-pop3d", "usr/bin/aviaryctl"):
            r = run([self.root / path, "--help"])
            self.assertIn("--config", r.stdout)

    def test_lintian(self):
        # Errors fail; warnings are printed for whoever reads the log.
        r = run([tool("lintian"), "--tag-display-limit", "0", self.deb], check=False, timeout=300,
                env={**os.environ, "LC_ALL": "C.UTF-8"})
        tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
        errors = [t for t in tags if t.startswith("E: ")]
        for tag in tags:
            print(tag)
        self.assertEqual(errors, [], r.stdout + r.stderr)
        # Non-zero: an error tag (--fail-on defaults to error) or lintian broke.
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


def parents(path):
    """'./a/b/c' -> {'./', './a/', './a/b/'}."""
    parts = path.rstrip("/").split("/")
    return {"/".join(parts[:i]) + "/" for i in range(1, len(parts))}


if __name__ == "__main__":
    unittest.main()
