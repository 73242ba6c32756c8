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
import subprocess
import time
import unittest
import warnings

from harness import HOSTNAME, ConnectionClosed, Daemon, SmtpClient, expect, free_port, program, toml_value

REFUSED = [
    ("kRSA, CBC, SHA-1", "AES128-SHA"),
    ("kRSA, GCM", "AES256-GCM-SHA384"),
    ("kRSA, CBC, SHA-256", "AES128-SHA256"),
    ("ECDHE, CBC, SHA-1", "ECDHE-RSA-AES128-SHA"),
    ("ECDHE, CBC, SHA-384", "ECDHE-RSA-AES256-SHA384"),
    ("DHE, CBC, SHA-1", "DHE-RSA-AES256-SHA"),
]
ACCEPTED = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]


def rsa_certificate(directory):
    cert, key = directory / "rsa-cert.pem", directory / "rsa-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", f"/CN={HOSTNAME}",
                    "-addext", f"subjectAltName=DNS:{HOSTNAME}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return cert, key


def tls12_context(ciphers):
    """A client that offers only `ciphers` over TLS 1.2 (no TLS 1.3 suites)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")  # let the client offer old suites
    return ctx


class CipherDaemon(Daemon):
    """aviary-smtpd with 25 and 465, aviary-pop3d with 995, one RSA certificate."""

    def __init__(self):
        self.submissions_port = free_port()
        self.pop3s_port = free_port()
        self.pop3d = None
        super().__init__(tls=True, name="ciphers")
        self.cert, self.key = rsa_certificate(self.dir)
        self.write_config()

    def write_config(self):
        super().write_config()
        text = self.config.read_text()
        text = text.replace("submissions = []", f'submissions = ["127.0.0.1:{self.submissions_port}"]')
        text = text.replace("tls_listen = []", f'tls_listen = ["127.0.0.1:{self.pop3s_port}"]')
        self.config.write_text(text)

    def start(self, wait=True):
        super().start(wait)
        log = open(self.dir / "pop3d.log", "ab")
        try:
            self.pop3d = subprocess.Popen([program("aviary-pop3d"), "-c", str(self.config)],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.pop3s_port), timeout=2):
                    return
            except OSError:
                if self.pop3d.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("aviary-pop3d did not start:\n"
                                         + (self.dir / "pop3d.log").read_text(errors="replace"))
                time.sleep(0.05)

    def cleanup(self):
        if self.pop3d is not None and self.pop3d.poll() is None:
            self.pop3d.terminate()
            try:
                self.pop3d.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.pop3d.kill()
                self.pop3d.wait(timeout=10)
        super().cleanup()


class CipherTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.daemon = CipherDaemon()
        try:
            cls.daemon.add_domain("example.test")
            cls.daemon.start()
        except BaseException:
            print(cls.daemon.log_tail())
            cls.daemon.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def tearDown(self):
        self.assertTrue(self.daemon.alive(), self.daemon.log_tail())
        self.assertIsNone(self.daemon.pop3d.poll(), "aviary-pop3d died")

    # Each returns the negotiated (version, cipher) or raises ssl.SSLError.

    def starttls_25(self, ctx):
        c = SmtpClient(self.daemon.port, timeout=10)
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
