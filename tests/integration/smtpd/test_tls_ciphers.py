"""test_tls_ciphers.py - every server TLS context takes only modern suites
(issue 11, item 23).

With an RSA certificate (so that static-RSA key exchange would be possible at
all), a client offering only kRSA, CBC or SHA-1-MAC suites must fail the
handshake on 25 (STARTTLS), 465 (implicit TLS) and 995 (POP3S); an ECDHE-GCM
handshake and TLS 1.3 work. Mozilla's "intermediate" list: forward secrecy
and AEAD only, TLS 1.2 and newer.
"""

import socket
import ssl
import unittest
import warnings

from aviary_test.case import SetupTestCase
from aviary_test.certificates import HOSTNAME
from aviary_test.smtp import ConnectionClosed, SmtpClient, expect
from aviary_test.smtpd_case import smtpd_daemon

REFUSED = [
    ("kRSA, CBC, SHA-1", "AES128-SHA"),
    ("kRSA, GCM", "AES256-GCM-SHA384"),
    ("kRSA, CBC, SHA-256", "AES128-SHA256"),
    ("ECDHE, CBC, SHA-1", "ECDHE-RSA-AES128-SHA"),
    ("ECDHE, CBC, SHA-384", "ECDHE-RSA-AES256-SHA384"),
    ("DHE, CBC, SHA-1", "DHE-RSA-AES256-SHA"),
]
ACCEPTED = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]


def tls12_context(ciphers):
    """A client that offers only `ciphers` over TLS 1.2 (no TLS 1.3 suites)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")  # let the client offer old suites
    return ctx


class CipherTest(SetupTestCase):

    start_pop3d = True

    @classmethod
    def make_setup(cls):
        # aviary-smtpd with 25 and 465, aviary-pop3d with 995, one RSA certificate.
        return smtpd_daemon("ciphers", key_type="rsa", submissions=True, pop3s=True)

    @classmethod
    def populate(cls, d):
        d.add_domain("example.test")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def tearDown(self):
        self.assertTrue(self.daemon.smtpd.alive(), self.daemon.smtpd.log_tail())
        self.assertTrue(self.daemon.pop3d.alive(), "aviary-pop3d died")

    # Each returns the negotiated (version, cipher) or raises ssl.SSLError.

    def starttls_25(self, ctx):
        c = SmtpClient(self.daemon.smtp_port, timeout=10)
        try:
            expect(c.greeting, "220")
            expect(c.cmd("EHLO client.example.net"), "250")
            expect(c.cmd("STARTTLS"), "220")
            c.handshake(ctx, server_hostname=HOSTNAME)
            expect(c.cmd("EHLO client.example.net"), "250")
            return c.sock.version(), c.sock.cipher()[0]
        finally:
            c.close()

    def implicit(self, port, ctx, greeting):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOSTNAME) as s:
                first = s.recv(512)
                self.assertTrue(first.startswith(greeting), first)
                return s.version(), s.cipher()[0]

    def submissions_465(self, ctx):
        return self.implicit(self.daemon.submissions_port, ctx, b"220 ")

    def pop3s_995(self, ctx):
        return self.implicit(self.daemon.pop3s_port, ctx, b"+OK")

    def listeners(self):
        return [("25 STARTTLS", self.starttls_25), ("465", self.submissions_465), ("995", self.pop3s_995)]

    def test_old_suites_refused(self):
        for where, handshake in self.listeners():
            for what, cipher in REFUSED:
                with self.subTest(listener=where, cipher=cipher):
                    with self.assertRaises((ssl.SSLError, ConnectionClosed, ConnectionResetError),
                                           msg=f"{where} accepted {cipher} ({what})"):
                        handshake(tls12_context(cipher))

    def test_modern_tls12_suites_work(self):
        for where, handshake in self.listeners():
            for cipher in ACCEPTED:
                with self.subTest(listener=where, cipher=cipher):
                    self.assertEqual(handshake(tls12_context(cipher)), ("TLSv1.2", cipher))

    def test_tls13_works(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(self.daemon.cert))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        for where, handshake in self.listeners():
            with self.subTest(listener=where):
                version, _cipher = handshake(ctx)
                self.assertEqual(version, "TLSv1.3")

    def test_old_protocols_refused(self):
        ctx = tls12_context("ALL")
        with warnings.catch_warnings():  # deprecated, which is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        for where, handshake in self.listeners():
            with self.subTest(listener=where):
                with self.assertRaises((ssl.SSLError, ConnectionClosed, ConnectionResetError)):
                    handshake(ctx)


if __name__ == "__main__":
    unittest.main()
