"""test_fetchmail.py - fetchmail fetches what swaks sent, over STLS (the
plain port with allow_plaintext_auth = false) and POP3S, verifying the
certificate (sslcertck, sslcertfile, sslcommonname), delivering through an
MDA into files in the temp dir with CRs kept (no stripcr) and headers not
rewritten (no rewrite). Without `keep` it deletes what it fetched; with
`keep` and `uidl`, a second run finds nothing new (UIDLs are stable) and a
third run fetches only the newly arrived message.
"""

import unittest

from aviary_test.certificates import HOSTNAME
from aviary_test.interop_case import InteropTestCase

# fetchmail's own trace field (it puts its Received among the ones at the top)
FETCHMAIL_FIELDS = ("received",)


class FetchmailTest(InteropTestCase):

    def fetchmail(self, user, pw, implicit_tls=False, keep=False, check=True):
        fetchmail = self.need("fetchmail")
        out = self.home / "out"
        out.mkdir(exist_ok=True)
        port = self.host.pop3s_port if implicit_tls else self.host.pop3_port
        tls = "ssl" if implicit_tls else 'sslproto "TLS1.2+"'
        rc = self.write_private("fetchmailrc", f"""\
set no syslog
poll 127.0.0.1 with proto POP3 port {port} timeout 30 auth password{" uidl" if keep else ""}
  user "{user}" there with password "{pw}" is "nobody" here
  {tls} sslcertck sslcertfile "{self.host.cert}" sslcommonname "{HOSTNAME}"
  {"keep" if keep else "nokeep"} no rewrite no stripcr no mimedecode
  mda "/bin/sh -c 'cat > {out}/msg.$$'"
""")
        return self.run_client([fetchmail, "-f", str(rc), "--nodetach", "-v",
                                "--pidfile", str(self.home / "fetchmail.pid"),
                                "-i", str(self.home / "fetchids")], timeout=90, check=check)

    def delivered(self):
        files = sorted((self.home / "out").iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in files]

    def clear(self):
        for p in (self.home / "out").iterdir():
            p.unlink()

    def test_stls(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "fetchmail-stls")
        r = self.fetchmail(user, pw)
        self.assertIn(b"STLS", r.stderr + r.stdout, "fetchmail did not use STLS")
        got = self.delivered()
        self.assertEqual(len(got), 1, f"fetchmail delivered {len(got)} messages")
        self.assertSameMessage(got[0], sent, FETCHMAIL_FIELDS)
        self.wait_mailbox_empty(user)

    def test_pop3s(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "fetchmail-pop3s")
        self.fetchmail(user, pw, implicit_tls=True)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(got[0], sent, FETCHMAIL_FIELDS)
        self.wait_mailbox_empty(user)

    def test_keep_uidl_fetches_only_new(self):
        user, pw = self.new_user()
        first = self.swaks_send(user, "fetchmail-keep-1")
        self.fetchmail(user, pw, keep=True)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(got[0], first, FETCHMAIL_FIELDS)
        self.assertEqual(len(self.host.messages(user)), 1, "keep: the message must stay")
        self.clear()
        r = self.fetchmail(user, pw, keep=True, check=False)
        self.assertEqual(r.returncode, 1, f"second run: exit {r.returncode} (1 = no new mail)\n"
                                          f"{r.stderr.decode(errors='replace')[-2000:]}")
        self.assertEqual(self.delivered(), [])
        second = self.swaks_send(user, "fetchmail-keep-2")
        self.fetchmail(user, pw, keep=True)
        got = self.delivered()
        self.assertEqual(len(got), 1, "third run: only the new message")
        self.assertSameMessage(got[0], second, FETCHMAIL_FIELDS)

    def test_wrong_password(self):
        user, pw = self.new_user()
        self.swaks_send(user, "fetchmail-wrong")
        r = self.fetchmail(user, pw + "x", check=False)
        self.assertEqual(r.returncode, 3, f"exit {r.returncode} (3 = authentication failed)\n"
                                          f"{r.stderr.decode(errors='replace')[-2000:]}")
        self.assertEqual(self.delivered(), [])
        self.assertEqual(len(self.host.messages(user)), 1)


if __name__ == "__main__":
    unittest.main()
