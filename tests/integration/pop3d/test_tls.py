"""test_tls.py - STLS (RFC 2595) on the plain listener and implicit TLS on
tls_listen, with Python's ssl verifying the fixture's certificate.

Commands pipelined after STLS are discarded, never answered (neither in the
clear nor after the handshake), and a USER name given before STLS is
forgotten; a failed handshake closes only that connection.
"""

import socket
import ssl
import time
import unittest

from aviary_test.certificates import HOSTNAME
from aviary_test.pop3_case import Pop3TestCase


class TlsTest(Pop3TestCase):

    def test_stls_verified_handshake(self):
        c = self.pop3()
        r = c.cmd("STLS")
        self.assertOk(r, "STLS")
        c.handshake(self.host.tls_context())
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertIn(("DNS", HOSTNAME), c.sock.getpeercert().get("subjectAltName", ()))
        user, pw = self.new_user()
        c.login(user, pw)
        self.assertEqual(c.stat(), (0, 0))
        c.quit()

    def test_pop3s_verified_handshake(self):
        c = self.pop3s()
        self.assertTrue(c.greeting.ok)
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        user, pw = self.new_user()
        c.login(user, pw)
        c.quit()

    def test_commands_pipelined_after_stls_are_discarded(self):
        user, pw = self.new_user()
        c = self.pop3()
        c.send(f"STLS\r\nUSER {user}\r\nXYZZY\r\nCAPA\r\n")
        r = c.response()
        self.assertOk(r, "STLS")
        time.sleep(0.3)  # room for a wrong plaintext answer to arrive
        c.sock.settimeout(0.2)
        try:
            extra = c.sock.recv(4096)
        except socket.timeout:
            extra = b""
        except ssl.SSLError:
            extra = b""
        c.sock.settimeout(c.timeout)
        self.assertEqual(extra + c.pending(), b"", "plaintext answers to commands pipelined after STLS")
        c.handshake(self.host.tls_context())
        # the first answer inside TLS must be the one to this CAPA
        r = c.cmd("CAPA")
        self.assertOk(r, "CAPA inside TLS")
        lines, _ = c.multiline()
        tags = [l.split()[0].decode() for l in lines if l.split()]
        self.assertNotIn("-ERR", tags, f"answers to discarded commands inside TLS: {lines!r}")
        self.assertNotIn("+OK", tags, f"answers to discarded commands inside TLS: {lines!r}")
        self.assertIn("USER", tags)
        # USER was discarded: PASS alone is out of sequence
        self.assertErr(c.cmd(f"PASS {pw}"), what="PASS whose USER was pipelined before the handshake")
        c.login(user, pw)
        time.sleep(0.2)
        self.assertOk(c.cmd("NOOP"))
        self.assertEqual(c.pending(), b"", "stray answers inside TLS")
        c.quit()

    def test_garbage_instead_of_handshake(self):
        c = self.pop3()
        self.assertOk(c.cmd("STLS"))
        c.send(b"USER nobody@example.test\r\nthis is not a TLS ClientHello\r\n")
        self.assertClosed(c, 10, "the server did not close after a failed handshake")
        # others are not affected
        d = self.pop3()
        self.assertTrue(d.greeting.ok)
        d.stls(self.host.tls_context())
        self.assertOk(d.cmd("CAPA"))

    def test_plaintext_on_pop3s_port(self):
        raw = socket.create_connection(("127.0.0.1", self.host.pop3s_port), timeout=10,
                                       source_address=(self.ip, 0))
        self.addCleanup(raw.close)
        raw.sendall(b"CAPA\r\nUSER x\r\n")
        raw.settimeout(10)
        data = b""
        try:
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        self.assertNotIn(b"+OK", data, "a plaintext session on the implicit-TLS port")
        self.assertDaemonAlive(0.2)
        c = self.pop3s()
        self.assertTrue(c.greeting.ok)

    def test_untrusted_client_view(self):
        """A client that does not trust the certificate fails the handshake
        (the daemon really serves the configured certificate)."""
        c = self.pop3()
        self.assertOk(c.cmd("STLS"))
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.handshake(ssl.create_default_context())


class StlsForgetsTest(Pop3TestCase):
    """RFC 2595 §4: after STLS the server discards what the client told it
    before (issue 11, item 31). allow_plaintext_auth = true, so that USER
    before TLS is accepted at all."""

    pop3d_options = {"allow_plaintext_auth": True}

    def test_user_before_stls_is_forgotten(self):
        user, pw, _ = self.mailbox_with(1)
        c = self.pop3()
        self.assertOk(c.cmd(f"USER {user}"), "USER in the clear (allowed here)")
        c.stls(self.host.tls_context())
        r = c.cmd(f"PASS {pw}")
        self.assertErr(r, what="PASS inside TLS for a USER given before STLS: logged in as that user")
        self.assertErr(c.cmd("STAT"), what="STAT: not logged in")
        # A USER given inside TLS counts.
        self.assertOk(c.user_pass(user, pw), "USER and PASS inside TLS")
        self.assertEqual(c.stat()[0], 1)
        c.quit()


if __name__ == "__main__":
    unittest.main()
