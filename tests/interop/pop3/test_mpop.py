"""test_mpop.py - mpop fetches what swaks sent over STLS and POP3S,
verifying the certificate (--tls-trust-file), with USER/PASS and with SASL
PLAIN, into a Maildir in the temp dir (--deliver=maildir). mpop writes LF
line ends, so its result is compared after LF -> CRLF. With --keep=off the
mailbox is empty afterwards; with --keep=on and --only-new=on a second run
finds nothing new (UIDLs are stable).
"""

import unittest

from aviary_test.interop_case import InteropTestCase, crlf

# mpop's own field if it adds one (--received-header=off)
MPOP_FIELDS = ("received",)


class MpopTest(InteropTestCase):

    def mpop(self, user, pw, implicit_tls=False, auth="user", keep=False, only_new=False,
             check=True):
        mpop = self.need("mpop")
        maildir = self.home / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        config = self.write_private("mpoprc", "defaults\n")  # a private, empty config
        port = self.host.pop3s_port if implicit_tls else self.host.pop3_port
        pwfile = self.write_private("password", pw + "\n")
        return self.run_client(
            [mpop, f"--file={config}", "--host=127.0.0.1", f"--port={port}", "--timeout=30",
             "--tls=on", f"--tls-starttls={'off' if implicit_tls else 'on'}",
             f"--tls-trust-file={self.host.cert}", f"--auth={auth}", f"--user={user}",
             f"--passwordeval=cat {pwfile}", f"--deliver=maildir,{maildir}",
             f"--keep={'on' if keep else 'off'}", f"--only-new={'on' if only_new else 'off'}",
             f"--uidls-file={self.home / 'uidls'}", "--received-header=off", "--debug"],
            timeout=90, check=check)

    def delivered(self):
        return self.maildir_messages(self.home / "Maildir")

    def clear(self):
        for sub in ("new", "cur"):
            for p in (self.home / "Maildir" / sub).iterdir():
                p.unlink()

    def test_stls_user(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "mpop-stls")
        r = self.mpop(user, pw)
        self.assertIn(b"--> STLS", r.stdout + r.stderr)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(crlf(got[0]), sent, MPOP_FIELDS)
        self.wait_mailbox_empty(user)

    def test_pop3s_sasl_plain(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "mpop-pop3s")
        r = self.mpop(user, pw, implicit_tls=True, auth="plain")
        self.assertIn(b"--> AUTH PLAIN", r.stdout + r.stderr)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(crlf(got[0]), sent, MPOP_FIELDS)
        self.wait_mailbox_empty(user)

    def test_keep_only_new(self):
        user, pw = self.new_user()
        first = self.swaks_send(user, "mpop-keep-1")
        self.mpop(user, pw, keep=True, only_new=True)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(crlf(got[0]), first, MPOP_FIELDS)
        self.clear()
        self.mpop(user, pw, keep=True, only_new=True)
        self.assertEqual(self.delivered(), [], "mpop fetched an old message again (UIDL changed?)")
        second = self.swaks_send(user, "mpop-keep-2")
        self.mpop(user, pw, keep=True, only_new=True)
        got = self.delivered()
        self.assertEqual(len(got), 1, "only the new message")
        self.assertSameMessage(crlf(got[0]), second, MPOP_FIELDS)
        self.assertEqual(len(self.host.messages(user)), 2)

    def test_wrong_password(self):
        user, pw = self.new_user()
        self.swaks_send(user, "mpop-wrong")
        r = self.mpop(user, pw + "x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"[AUTH]", r.stdout + r.stderr)
        self.assertEqual(self.delivered(), [])
        self.assertEqual(len(self.host.messages(user)), 1)


if __name__ == "__main__":
    unittest.main()
