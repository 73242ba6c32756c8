"""test_clients.py - real clients against the submission listeners.

swaks with --tls (STARTTLS) and --auth PLAIN / LOGIN on the submission
port and --tlsc (implicit TLS) on the submissions port; Python's smtplib
with starttls()+login() and SMTP_SSL, verifying the daemon's certificate
(SAN IP:127.0.0.1) against the one the fixture generated. Each message is
checked where it must end up: a mailbox or the outbound queue.
"""

import shutil
import smtplib
import ssl
import subprocess
import unittest
import uuid
from email.message import EmailMessage

from aviary_test.messages import field_values, split_trace
from aviary_test.ports import fresh_source
from aviary_test.submission_case import PASSWORDS, SubmissionTestCase


def swaks_path():
    path = shutil.which("swaks")
    if not path:
        raise AssertionError("swaks is not installed (Debian package swaks)")
    return path


class ClientTest(SubmissionTestCase):

    def swaks(self, port, tls, auth, user, secret, to, subject, extra=()):
        args = [swaks_path(), "--server", "127.0.0.1", "--port", str(port), tls,
                "--auth", auth, "--auth-user", user, "--auth-password", secret,
                "--from", user, "--to", ",".join(to), "--helo", "swaks.example.net",
                "--local-interface", fresh_source(), "--timeout", "30",
                "--header", f"Subject: {subject}", "--body", f"Body of {subject}.", *extra]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    def assertDelivered(self, address, marker, esmtp=r"\bwith ESMTPSA\b"):
        found = [m["data"] for m in self.daemon.store.mailbox(address) if marker.encode() in m["data"]]
        self.assertEqual(len(found), 1, f"copies of {marker!r} in {address}")
        fields, _rest = split_trace(found[0])
        self.assertEqual([n.lower() for n, _ in fields], ["return-path", "delivered-to", "received"], found[0][:400])
        self.assertRegex(fields[2][1], esmtp)
        return found[0]

    def queued(self, marker):
        out = []
        for e in self.daemon.store.queue():
            _refs, _size, blob = self.daemon.store.blob(e["blob_id"])
            if marker.encode() in blob:
                out.append(e)
        return out

    def marker(self, what):
        return f"{what}-{uuid.uuid4().hex[:12]}"

    def context(self):
        ctx = ssl.create_default_context(cafile=str(self.daemon.cert))
        self.assertEqual(ctx.verify_mode, ssl.CERT_REQUIRED)
        self.assertTrue(ctx.check_hostname)
        return ctx

    # -- swaks ----------------------------------------------------------------------

    def test_swaks_starttls_auth_plain(self):
        subject = self.marker("swaks-plain")
        r = self.swaks(self.daemon.submission_port, "--tls", "PLAIN", "alice@example.test",
                       PASSWORDS["alice@example.test"], ["bob@example.test"], subject)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^<~?\s*235 ")
        self.assertDelivered("bob@example.test", subject)

    def test_swaks_starttls_auth_login(self):
        subject = self.marker("swaks-login")
        r = self.swaks(self.daemon.submission_port, "--tls", "LOGIN", "carol@example.org",
                       PASSWORDS["carol@example.org"], ["alice@example.test", "friend@remote.test"], subject)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^<~?\s*334 VXNlcm5hbWU6")
        self.assertRegex(r.stdout, r"(?m)^<~?\s*235 ")
        self.assertDelivered("alice@example.test", subject)
        entries = self.queued(subject)
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(entries[0]["sender"], "carol@example.org")
        self.assertEqual([a for a, _s, _d in entries[0]["recipients"]], ["friend@remote.test"])

    def test_swaks_implicit_tls(self):
        subject = self.marker("swaks-tlsc")
        r = self.swaks(self.daemon.submissions_port, "--tlsc", "PLAIN", "bob@example.test",
                       PASSWORDS["bob@example.test"], ["carol@example.org"], subject)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertDelivered("carol@example.org", subject)

    def test_swaks_wrong_password(self):
        subject = self.marker("swaks-wrong")
        r = self.swaks(self.daemon.submission_port, "--tls", "PLAIN", "alice@example.test", "not-the-password",
                       ["bob@example.test"], subject)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^<~?\*{0,3}\s*535 5\.7\.8")
        self.assertFalse(any(subject.encode() in m["data"] for m in self.daemon.store.mailbox("bob@example.test")))

    def test_swaks_without_tls_cannot_auth(self):
        # swaks without --tls: AUTH is not offered in the clear, so swaks stops.
        args = [swaks_path(), "--server", "127.0.0.1", "--port", str(self.daemon.submission_port),
                "--auth", "PLAIN", "--auth-user", "alice@example.test",
                "--auth-password", PASSWORDS["alice@example.test"], "--from", "alice@example.test",
                "--to", "bob@example.test", "--local-interface", fresh_source(), "--timeout", "30"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertNotRegex(r.stdout, r"(?m)^<~?\s*235 ")

    # -- smtplib --------------------------------------------------------------------

    def message(self, subject, to, sender="alice@example.test"):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg.set_content(f"Body of {subject}.\n")
        return msg

    def test_smtplib_starttls_login(self):
        subject = self.marker("smtplib-starttls")
        to = ["bob@example.test", "carol@example.org", "someone@remote.test"]
        with smtplib.SMTP("127.0.0.1", self.daemon.submission_port, local_hostname="smtplib.example.net",
                          timeout=30, source_address=(fresh_source(), 0)) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"), "AUTH offered before STARTTLS")
            s.starttls(context=self.context())
            s.ehlo()
            self.assertTrue(s.has_extn("auth"))
            self.assertEqual(set(s.esmtp_features["auth"].upper().split()), {"PLAIN", "LOGIN"})
            code, _ = s.login("alice@example.test", PASSWORDS["alice@example.test"])
            self.assertEqual(code, 235)
            refused = s.send_message(self.message(subject, to))
            self.assertEqual(refused, {})
        for user in ("bob@example.test", "carol@example.org"):
            stored = self.assertDelivered(user, subject)
            # smtplib's EmailMessage carries neither; the server added them.
            self.assertEqual(len(field_values(stored, "Message-ID")), 1)
            self.assertEqual(len(field_values(stored, "Date")), 1)
        entries = self.queued(subject)
        self.assertEqual(len(entries), 1)
        self.assertEqual([a for a, _s, _d in entries[0]["recipients"]], ["someone@remote.test"])

    def test_smtplib_auth_login_with_initial_response(self):
        subject = self.marker("smtplib-login")
        with smtplib.SMTP("127.0.0.1", self.daemon.submission_port, timeout=30,
                          source_address=(fresh_source(), 0)) as s:
            s.starttls(context=self.context())
            s.ehlo()
            s.user, s.password = "bob@example.test", PASSWORDS["bob@example.test"]
            code, _ = s.auth("LOGIN", s.auth_login)  # "AUTH LOGIN <user>", then the password
            self.assertEqual(code, 235)
            s.send_message(self.message(subject, ["alice@example.test"], sender="bob@example.test"))
        self.assertDelivered("alice@example.test", subject)

    def test_smtplib_auth_plain_without_initial_response(self):
        subject = self.marker("smtplib-plain-334")
        with smtplib.SMTP("127.0.0.1", self.daemon.submission_port, timeout=30,
                          source_address=(fresh_source(), 0)) as s:
            s.starttls(context=self.context())
            s.ehlo()
            s.user, s.password = "carol@example.org", PASSWORDS["carol@example.org"]
            code, _ = s.auth("PLAIN", s.auth_plain, initial_response_ok=False)
            self.assertEqual(code, 235)
            s.send_message(self.message(subject, ["bob@example.test"], sender="carol@example.org"))
        self.assertDelivered("bob@example.test", subject)

    def test_smtplib_ssl(self):
        subject = self.marker("smtplib-ssl")
        with smtplib.SMTP_SSL("127.0.0.1", self.daemon.submissions_port, context=self.context(), timeout=30,
                              source_address=(fresh_source(), 0)) as s:
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"))
            self.assertTrue(s.has_extn("auth"))
            # (smtplib encodes credentials as ASCII: no δοκιμή@ here.)
            s.login("carol@example.org", PASSWORDS["carol@example.org"])
            s.send_message(self.message(subject, ["alice@example.test", "far@elsewhere.example"],
                                        sender="carol@example.org"))
        self.assertDelivered("alice@example.test", subject)
        self.assertEqual(len(self.queued(subject)), 1)

    def test_smtplib_wrong_password(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.daemon.submissions_port, context=self.context(), timeout=30,
                              source_address=(fresh_source(), 0)) as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login("alice@example.test", "not-the-password")
            self.assertEqual(cm.exception.smtp_code, 535)

    def test_smtplib_send_without_login(self):
        with smtplib.SMTP("127.0.0.1", self.daemon.submission_port, timeout=30,
                          source_address=(fresh_source(), 0)) as s:
            s.starttls(context=self.context())
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.send_message(self.message("no login", ["bob@example.test"]))
            self.assertEqual(cm.exception.smtp_code, 530)

    def test_smtplib_refuses_unverified_certificate(self):
        # The checks above verify the certificate: a client with only the
        # system CAs must refuse this self-signed one.
        with self.assertRaises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL("127.0.0.1", self.daemon.submissions_port, context=ssl.create_default_context(),
                             timeout=30, source_address=(fresh_source(), 0))


if __name__ == "__main__":
    unittest.main()
