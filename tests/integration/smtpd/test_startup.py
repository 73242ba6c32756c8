"""test_startup.py - starting aviary-smtpd: listeners and refusals.

A config or certificate error stops the daemon at start with a clear
message and a non-zero exit (issue 3, item 1); listeners may be IPv4 and
IPv6.
"""

import socket
import subprocess
import unittest

from aviary_test.ports import free_port
from aviary_test.programs import program
from aviary_test.smtp import SmtpClient, expect
from aviary_test.smtpd_case import smtpd_daemon, standard_population


def start_failure(daemon, timeout=20):
    """Runs the daemon expecting it to exit; returns (exit code, stderr+stdout)."""
    try:
        r = subprocess.run([program("aviary-smtpd"), "-c", str(daemon.config)], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"aviary-smtpd still running after {timeout}s despite a bad setup")
    return r.returncode, r.stderr + r.stdout


class StartupTest(unittest.TestCase):

    def daemon(self, **kw):
        d = smtpd_daemon("startup", **kw)
        self.addCleanup(d.cleanup)
        standard_population(d)
        return d

    def test_unknown_config_key(self):
        d = self.daemon()
        d.config.write_text(d.config.read_text().replace("[smtpd]\n", "[smtpd]\nmax_bananas = 3\n"))
        rc, out = start_failure(d)
        self.assertNotEqual(rc, 0)
        self.assertIn("max_bananas", out)
        self.assertIn(str(d.config), out)

    def test_missing_certificate(self):
        d = self.daemon()
        d.cert.unlink()
        rc, out = start_failure(d)
        self.assertNotEqual(rc, 0)
        self.assertIn("cert.pem", out)

    def test_key_does_not_match_certificate(self):
        d = self.daemon()
        other = self.daemon()
        d.key.write_bytes(other.key.read_bytes())
        rc, out = start_failure(d)
        self.assertNotEqual(rc, 0, out)
        self.assertTrue(out.strip(), "no message")

    def test_garbage_certificate(self):
        d = self.daemon()
        d.cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        rc, out = start_failure(d)
        self.assertNotEqual(rc, 0)
        self.assertIn("cert.pem", out)

    def test_port_in_use(self):
        d = self.daemon()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", d.smtp_port))
            s.listen(1)
            rc, out = start_failure(d)
        self.assertNotEqual(rc, 0)
        self.assertIn(str(d.smtp_port), out)

    def test_ipv4_and_ipv6_listeners(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        d = self.daemon()
        port6 = free_port()
        d.config.write_text(d.config.read_text().replace(
            f'listen = ["127.0.0.1:{d.smtp_port}"]', f'listen = ["127.0.0.1:{d.smtp_port}", "[::1]:{port6}"]'))
        d.start()
        with SmtpClient(port6, host="::1") as c:
            expect(c.greeting, "220")
            expect(c.ehlo(), "250")
            expect(c.transaction("sender@remote.test", ["alice@example.test"],
                                 b"Subject: over IPv6\r\n\r\nhi\r\n"), "250")
        with SmtpClient(d.smtp_port) as c:
            expect(c.greeting, "220")
        self.assertEqual(d.count("alice@example.test"), 1)
        self.assertIn("::1", d.smtpd.log(), "the session log names the IPv6 peer")
        self.assertEqual(d.stop(), 0)

    def test_session_logged_with_peer(self):
        d = self.daemon()
        d.start()
        with SmtpClient(d.smtp_port, source="127.0.0.7") as c:
            expect(c.cmd("QUIT"), "221")
            c.wait_closed(5)
        self.assertEqual(d.stop(), 0)
        self.assertIn("127.0.0.7", d.smtpd.log())


if __name__ == "__main__":
    unittest.main()
