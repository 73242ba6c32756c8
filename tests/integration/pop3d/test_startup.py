"""test_startup.py - starting aviary-pop3d: configuration errors stop it
before it serves anything (SPEC.md: non-zero exit, a message naming the
file and key), a busy port is an error, IPv6 listeners work, and the
session log names the peer.

[pop3d] settings that would lock users out or bend RFC 1939 (issue 11 item
34): without [tls] and with allow_plaintext_auth = false nobody could ever
log in, so aviary-pop3d refuses to start while aviary-smtpd, which does not
use [pop3d], serves with the same file; an idle_timeout below RFC 1939's ten
minutes is logged as a warning and the daemon serves.
"""

import socket
import subprocess
import time
import unittest

from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import mailhost
from aviary_test.ports import free_port
from aviary_test.programs import program


def start_failure(host, timeout=20):
    """Runs aviary-pop3d expecting it to exit; returns (exit code, output)."""
    try:
        r = subprocess.run([program("aviary-pop3d"), "-c", str(host.config)], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"aviary-pop3d still running after {timeout}s despite a bad setup")
    return r.returncode, r.stderr + r.stdout


class StartupTest(unittest.TestCase):

    def host(self, **kw):
        h = mailhost("pop3d-startup", **kw)
        self.addCleanup(h.cleanup)
        h.add_domain("example.test")
        return h

    def edit(self, h, old, new):
        text = h.config.read_text()
        self.assertIn(old, text)
        h.config.write_text(text.replace(old, new, 1))

    def test_unknown_key(self):
        h = self.host()
        self.edit(h, "[pop3d]\n", "[pop3d]\nmax_bananas = 3\n")
        rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertIn("max_bananas", out)
        self.assertIn(str(h.config), out)

    def test_bad_duration(self):
        h = self.host()
        self.edit(h, 'idle_timeout = "10m"', 'idle_timeout = "soon"')
        rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertIn("idle_timeout", out)

    def test_tls_listener_without_certificate(self):
        h = self.host()
        text = h.config.read_text()
        start = text.index("[tls]")
        end = text.index("[smtpd]")
        h.config.write_text(text[:start] + text[end:])
        rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertTrue(out.strip(), "no message")

    def test_missing_config(self):
        h = self.host()
        h.config.unlink()
        rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertIn(str(h.config), out)

    def test_missing_certificate(self):
        h = self.host()
        h.cert.unlink()
        rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertIn("cert.pem", out)

    def test_port_in_use(self):
        h = self.host()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", h.pop3_port))
            s.listen(1)
            rc, out = start_failure(h)
        self.assertNotEqual(rc, 0)
        self.assertIn(str(h.pop3_port), out)

    def test_ipv6_listener_and_peer_log(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        h = self.host(pop3d={"allow_plaintext_auth": True})
        port6 = free_port()
        self.edit(h, f'listen = ["127.0.0.1:{h.pop3_port}"]',
                  f'listen = ["127.0.0.1:{h.pop3_port}", "[::1]:{port6}"]')
        h.add_user("alice@example.test", "pw-alice")
        h.start(pop3d=True)
        with Pop3Client(port6, host="::1") as c:
            self.assertTrue(c.greeting.ok)
            c.login("alice@example.test", "pw-alice")
            c.quit()
        with Pop3Client(h.pop3_port, source="127.0.0.7") as c:
            self.assertTrue(c.greeting.ok)
            c.quit()
            c.wait_closed(5)
        self.assertEqual(h.pop3d.stop(), 0)
        log = h.pop3d.log()
        self.assertIn("::1", log, "the session log names the IPv6 peer")
        self.assertIn("127.0.0.7", log, "the session log names the peer")


class Pop3dConfigChecksTest(unittest.TestCase):

    def host(self, **kw):
        h = mailhost("pop3d-checks", **kw)
        self.addCleanup(h.cleanup)
        h.add_domain("example.test")  # aviaryctl works with this file
        return h

    def test_no_tls_and_no_plaintext_refuses_to_start(self):
        h = self.host(tls=False, pop3d={"allow_plaintext_auth": False})
        rc, out = start_failure(h)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"{h.config}:", out)
        self.assertIn("pop3d.allow_plaintext_auth", out)
        self.assertIn("nobody could log in", out)
        # aviary-smtpd reads the same file and serves.
        h.smtpd.start()
        h.wait_smtpd()
        self.assertTrue(h.smtpd.alive())

    def test_short_idle_timeout_is_a_warning(self):
        h = self.host(pop3d={"idle_timeout": "5m"})
        h.pop3d.start()
        h.wait_pop3d()
        c = Pop3Client(h.pop3_port)
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.ok, c.greeting)
        deadline = time.monotonic() + 10
        while "pop3d.idle_timeout" not in h.pop3d.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = h.pop3d.log()
        self.assertRegex(log, r"warning: .*pop3d\.idle_timeout: below the 10 minutes RFC 1939")



if __name__ == "__main__":
    unittest.main()
