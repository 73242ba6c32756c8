"""test_reload.py - SIGHUP swaps the TLS certificate under running sessions.

Both daemons start with certificate A; sessions are opened and left idle
(plain and TLS, SMTP and POP3). The files are replaced with certificate B
and the daemons get SIGHUP: new handshakes (STARTTLS, STLS, POP3S, and a
STARTTLS on a session opened before the reload) present B, and the old
sessions still work. Then a broken certificate file, and a certificate that
does not match the key: each SIGHUP logs an error and B stays in use.
Without TLS, SIGHUP is harmless.

Uses the pop3d suite's setup (aviary_test.pop3_case.mailhost).
"""

import hashlib
import os
import signal
import ssl
import time
import unittest
from pathlib import Path

from aviary_test.certificates import any_certificate, make_certificate
from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import mailhost, pop3_message
from aviary_test.smtp import SmtpClient, expect

RELOADED = "SIGHUP: reloaded the TLS certificate"
KEPT = "SIGHUP: keeping the TLS certificate in use"


def fingerprint_of_file(path):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(Path(path).read_text())).hexdigest()


def fingerprint_of(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def replace_file(path, data):
    """Writes data to path in one rename, as certbot and friends do."""
    tmp = Path(str(path) + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class ReloadCertificate(unittest.TestCase):

    def setUp(self):
        self.host = mailhost("reload")
        self.addCleanup(self.host.cleanup)
        h = self.host
        h.add_domain("example.test")
        self.smtp_user = h.add_user("alice@example.test")
        self.pop3_user = h.add_user("bob@example.test")
        self.pop3s_user = h.add_user("carol@example.test")
        h.start(pop3d=True)
        self.cert_a = fingerprint_of_file(h.cert)
        b_dir = h.dir / "b"
        b_dir.mkdir()
        self.b_cert, self.b_key = make_certificate(b_dir)
        self.cert_b = fingerprint_of_file(self.b_cert)
        self.assertNotEqual(self.cert_a, self.cert_b)

    def tearDown(self):
        for proc in (self.host.smtpd, self.host.pop3d):
            alive = proc.alive()
            rc = proc.stop(timeout=30)
            if not alive or rc != 0:
                self.fail(f"{proc.name} {'died' if not alive else 'exited'} ({rc}):\n{proc.log_tail()}")

    # -- what a new client sees -----------------------------------------------

    def smtp_starttls(self):
        with SmtpClient(self.host.smtp_port) as c:
            expect(c.ehlo(), "250")
            c.starttls(any_certificate())
            return fingerprint_of(c.sock)

    def pop3_stls(self):
        with Pop3Client(self.host.pop3_port) as c:
            c.stls(any_certificate())
            return fingerprint_of(c.sock)

    def pop3s(self):
        with Pop3Client(self.host.pop3s_port, tls=True, context=any_certificate()) as c:
            self.assertTrue(c.greeting.ok)
            return fingerprint_of(c.sock)

    def assertPresented(self, fingerprint, when):
        self.assertEqual(self.smtp_starttls(), fingerprint, f"aviary-smtpd STARTTLS {when}")
        self.assertEqual(self.pop3_stls(), fingerprint, f"aviary-pop3d STLS {when}")
        self.assertEqual(self.pop3s(), fingerprint, f"aviary-pop3d POP3S {when}")

    def hangup(self, expected, timeout=15.0):
        """SIGHUP to both daemons; waits for the log line `expected` from each."""
        before = {p.name: p.log().count(expected) for p in (self.host.smtpd, self.host.pop3d)}
        for proc in (self.host.smtpd, self.host.pop3d):
            proc.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        for proc in (self.host.smtpd, self.host.pop3d):
            while proc.log().count(expected) <= before[proc.name]:
                if not proc.alive():
                    self.fail(f"{proc.name} died on SIGHUP:\n{proc.log_tail()}")
                if time.monotonic() > deadline:
                    self.fail(f"{proc.name}: no {expected!r} within {timeout}s:\n{proc.log_tail()}")
                time.sleep(0.05)

    # -- the test -------------------------------------------------------------

    def test_sighup_replaces_the_certificate_and_keeps_sessions(self):
        h = self.host
        self.assertPresented(self.cert_a, "at start")

        # Sessions opened before the reload and left idle.
        smtp_plain = SmtpClient(h.smtp_port)
        self.addCleanup(smtp_plain.close)
        expect(smtp_plain.ehlo(), "250")
        smtp_tls = SmtpClient(h.smtp_port)
        self.addCleanup(smtp_tls.close)
        expect(smtp_tls.ehlo(), "250")
        smtp_tls.starttls(any_certificate())
        expect(smtp_tls.ehlo(), "250")
        self.assertEqual(fingerprint_of(smtp_tls.sock), self.cert_a)
        pop3_tls = Pop3Client(h.pop3_port)
        self.addCleanup(pop3_tls.close)
        pop3_tls.stls(any_certificate())
        self.assertTrue(pop3_tls.login(*self.pop3_user).ok)
        pop3s = Pop3Client(h.pop3s_port, tls=True, context=any_certificate())
        self.addCleanup(pop3s.close)
        self.assertTrue(pop3s.login(*self.pop3s_user).ok)

        # Certificate B in place of A, then SIGHUP.
        replace_file(h.key, self.b_key.read_bytes())
        replace_file(h.cert, self.b_cert.read_bytes())
        self.hangup(RELOADED)
        self.assertPresented(self.cert_b, "after the reload")

        # The old sessions go on, on the certificate they started with.
        expect(smtp_tls.cmd("NOOP"), "250", what="TLS session from before the reload")
        self.assertEqual(fingerprint_of(smtp_tls.sock), self.cert_a)
        expect(smtp_tls.transaction("sender@remote.test", [self.smtp_user[0]], pop3_message("across a reload")), "250")
        self.assertTrue(pop3_tls.cmd("NOOP").ok, "STLS session from before the reload")
        self.assertTrue(pop3s.cmd("NOOP").ok, "POP3S session from before the reload")
        # A session opened before the reload that starts TLS now gets B.
        expect(smtp_plain.cmd("NOOP"), "250")
        smtp_plain.starttls(any_certificate())
        self.assertEqual(fingerprint_of(smtp_plain.sock), self.cert_b)
        expect(smtp_plain.ehlo(), "250")

        # A broken certificate file: logged, B stays.
        replace_file(h.cert, b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        self.hangup(KEPT)
        self.assertPresented(self.cert_b, "after a reload of a broken file")
        for proc in (h.smtpd, h.pop3d):
            line = [l for l in proc.log().splitlines() if KEPT in l][-1]
            self.assertIn(str(h.cert), line, f"{proc.name} names the file")

        # A valid certificate that does not match the key: logged, B stays.
        c_dir = h.dir / "c"
        c_dir.mkdir()
        c_cert, _c_key = make_certificate(c_dir)
        replace_file(h.cert, c_cert.read_bytes())
        self.hangup(KEPT)
        self.assertPresented(self.cert_b, "after a reload of a mismatched pair")

        # Everything opened before still works.
        expect(smtp_tls.cmd("NOOP"), "250")
        expect(smtp_plain.cmd("NOOP"), "250")
        self.assertTrue(pop3_tls.cmd("NOOP").ok)
        self.assertTrue(pop3s.cmd("NOOP").ok)
        for c in (smtp_tls, smtp_plain):
            expect(c.cmd("QUIT"), "221")
        for c in (pop3_tls, pop3s):
            self.assertTrue(c.cmd("QUIT").ok)


class ReloadWithoutTls(unittest.TestCase):

    def test_sighup_without_tls_is_harmless(self):
        # Without TLS, aviary-pop3d serves only with plaintext logins allowed.
        h = mailhost("reload-notls", tls=False, pop3s=False, metrics=False,
                     pop3d={"allow_plaintext_auth": True})
        self.addCleanup(h.cleanup)
        h.add_domain("example.test")
        h.start(pop3d=True)
        for proc in (h.smtpd, h.pop3d):
            proc.signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        for proc in (h.smtpd, h.pop3d):
            while "nothing to reload" not in proc.log():
                self.assertTrue(proc.alive(), f"{proc.name} died on SIGHUP:\n{proc.log_tail()}")
                self.assertLess(time.monotonic(), deadline, proc.log_tail())
                time.sleep(0.05)
        with SmtpClient(h.smtp_port) as c:
            expect(c.ehlo(), "250")
        for proc in (h.smtpd, h.pop3d):
            self.assertEqual(proc.stop(timeout=30), 0, proc.log_tail())


if __name__ == "__main__":
    unittest.main()
