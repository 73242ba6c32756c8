"""test_tls.py - STARTTLS on port 25 (RFC 3207) with Python's ssl and swaks.

The client verifies the daemon's certificate against the one the fixture
generated. Covers the new EHLO after TLS, the reset session, commands
pipelined after STARTTLS (never answered), protocol versions and the trace
header of a message received over TLS.
"""

import re
import shutil
import subprocess
import unittest

from aviary_test.certificates import HOSTNAME
from aviary_test.messages import message, split_trace
from aviary_test.smtpd_case import SmtpdTestCase


class TlsTest(SmtpdTestCase):

    def tls_client(self):
        """A session after EHLO, STARTTLS and the handshake (no EHLO yet)."""
        c = self.client()
        r = c.ehlo()
        self.assertIn("STARTTLS", r.keywords(), repr(r))
        c.starttls(self.daemon.tls_context())
        return c

    def test_starttls_verified_handshake(self):
        c = self.tls_client()
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        cert = c.sock.getpeercert()
        self.assertIn(("DNS", HOSTNAME), cert.get("subjectAltName", ()))

    def test_ehlo_after_tls(self):
        c = self.tls_client()
        r = c.ehlo()
        self.assertReply(r, "250")
        kw = r.keywords()
        self.assertNotIn("STARTTLS", kw, "STARTTLS advertised inside TLS")
        self.assertNotIn("AUTH", kw, "no AUTH on port 25, not even after TLS")
        for wanted in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING"):
            self.assertIn(wanted, kw, repr(r))

    def test_new_ehlo_required_after_tls(self):
        c = self.tls_client()
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "503", "5.5.1")
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")

    def test_transaction_before_starttls_is_forgotten(self):
        """The session state resets at STARTTLS (RFC 3207 §4.2)."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        r = c.cmd("STARTTLS")
        if r.code != 220:
            # Refusing STARTTLS inside a transaction is also fine; then RSET first.
            self.assertReply(r, "5xx")
            self.assertReply(c.cmd("RSET"), "250")
            self.assertReply(c.cmd("STARTTLS"), "220")
        c.handshake(self.daemon.tls_context())
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "503", "5.5.1")

    def test_starttls_injection_rset(self):
        """RSET pipelined after STARTTLS is discarded, never answered later."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        c.send("STARTTLS\r\nRSET\r\n")
        self.assertReply(c.reply(), "220")
        # If the server answered RSET in plaintext, those bytes either sit in
        # our buffer now (handshake() refuses) or break the handshake.
        c.handshake(self.daemon.tls_context())
        # The first reply inside TLS must be the one to our own HELP.
        self.assertReply(c.cmd("HELP"), "214", what="first reply after the handshake")
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("NOOP"), "250")
        self.assertEqual(c.pending(), b"")

    def test_starttls_injection_transaction(self):
        """A MAIL/RCPT injected before the handshake must not exist afterwards."""
        before = self.daemon.count("bob@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        c.send("STARTTLS\r\nMAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\n")
        self.assertReply(c.reply(), "220")
        c.handshake(self.daemon.tls_context())
        self.assertReply(c.ehlo(), "250", what="first reply after the handshake")
        self.assertReply(c.cmd("DATA"), "503", "5.5.1")
        self.assertReply(c.cmd("RCPT TO:<bob@example.test>"), "503", "5.5.1")
        self.assertEqual(self.daemon.count("bob@example.test"), before)

    def test_starttls_with_parameter(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("STARTTLS now"), "501")
        self.assertReply(c.cmd("NOOP"), "250")

    def test_starttls_twice(self):
        c = self.tls_client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("STARTTLS"), "5xx")
        self.assertReply(c.cmd("NOOP"), "250")

    def test_message_over_tls_is_esmtps(self):
        before = self.daemon.count("alice@example.test")
        c = self.tls_client()
        self.assertReply(c.ehlo("tls.client.example.net"), "250")
        body = message("over tls")
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], body),
                         "250", "2.0.0")
        version, cipher = c.sock.version(), c.sock.cipher()[0]
        stored = self.daemon.messages("alice@example.test")
        self.assertEqual(len(stored), before + 1)
        fields, rest = split_trace(stored[-1])
        self.assertEqual([f[0].lower() for f in fields], ["return-path", "delivered-to", "received"],
                         stored[-1][:400])
        self.assertEqual(rest, body)
        received = fields[2][1]
        self.assertRegex(received, r"\bwith ESMTPS\b")
        self.assertIn("tls.client.example.net", received)
        # The version as OpenSSL names it ("TLSv1.3") or without the "v".
        self.assertTrue(re.search(re.escape(version) + "|" + re.escape(version.replace("v", " ")) + "|"
                                  + re.escape(version.replace("v", "")), received),
                        f"TLS version {version} not in Received: {received}")
        self.assertIn(cipher, received, "cipher not in Received")

    def s_client(self, version):
        """openssl s_client -starttls smtp at one protocol version; its output."""
        r = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{self.daemon.smtp_port}", "-starttls", "smtp",
             "-name", "client.example.net", f"-{version}", "-cipher", "DEFAULT:@SECLEVEL=0",
             "-CAfile", str(self.daemon.cert), "-verify_return_error"],
            input="QUIT\n", capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr

    def test_tls_1_1_refused(self):
        """TLS 1.2 is the minimum (openssl s_client, which can speak 1.1 at SECLEVEL=0)."""
        out = self.s_client("tls1_2")
        self.assertRegex(out, r"New, TLSv1\.2, Cipher is [A-Z]", out[-2000:])
        self.assertIn("Verify return code: 0 (ok)", out)
        out = self.s_client("tls1_1")
        self.assertNotRegex(out, r"New, TLSv1(\.1)?, Cipher is [A-Z]", out[-2000:])
        self.assertIn("Cipher is (NONE)", out, out[-2000:])  # the handshake failed

    def test_garbage_instead_of_handshake(self):
        """A client that sends plaintext after 220 is dropped; the daemon lives on."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("STARTTLS"), "220")
        c.send(b"EHLO this is not a ClientHello\r\n" * 4)
        self.assertClosed(c, timeout=15)
        c2 = self.client()
        self.assertReply(c2.cmd("NOOP"), "250")

    def test_disconnect_during_handshake(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("STARTTLS"), "220")
        c.send(b"\x16\x03\x01\x00")  # the start of a TLS record, then nothing
        c.close()
        c2 = self.tls_client()
        self.assertReply(c2.ehlo(), "250")

    def test_swaks_starttls(self):
        swaks = shutil.which("swaks")
        if not swaks:
            self.fail("swaks is not installed (Debian package swaks)")
        before = self.daemon.count("bob@example.test")
        r = subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(self.daemon.smtp_port),
             "--from", "sender@remote.test", "--to", "bob@example.test",
             "--helo", "swaks.example.net", "--tls", "--tls-verify",
             "--tls-ca-path", str(self.daemon.cert),
             "--header", "Subject: swaks over starttls", "--body", "Sent by swaks.",
             "--timeout", "30"],
            capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, f"swaks failed:\n{r.stdout}\n{r.stderr}")
        self.assertIn("STARTTLS", r.stdout)
        self.assertRegex(r.stdout, r"<~\s+250 2\.0\.0")
        stored = self.daemon.messages("bob@example.test")
        self.assertEqual(len(stored), before + 1)
        fields, rest = split_trace(stored[-1])
        self.assertEqual(len(fields), 3, stored[-1][:400])
        self.assertRegex(fields[2][1], r"\bwith ESMTPS\b")
        self.assertIn(b"Subject: swaks over starttls", rest)
        self.assertIn(b"Sent by swaks.", rest)


class NoTlsTest(SmtpdTestCase):
    """Without [tls] STARTTLS is neither offered nor accepted."""

    tls = False

    def test_no_starttls_without_certificate(self):
        c = self.client()
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertNotIn("STARTTLS", r.keywords())
        self.assertReply(c.cmd("STARTTLS"), "5xx")
        self.assertReply(c.cmd("NOOP"), "250")


if __name__ == "__main__":
    unittest.main()
