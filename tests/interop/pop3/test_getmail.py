"""test_getmail.py - getmail6 fetches what swaks sent over POP3S
(SimplePOP3SSLRetriever; getmail has no STLS for POP3), verifying the
certificate (ca_certs, ssl_cert_hostname). It delivers into a Maildir in the
temp dir - or, when the tests run as root (getmail refuses Maildir delivery
as root), through its MDA_external destination into a file. getmail writes
LF line ends, so its result is compared after LF -> CRLF. With delete, the
mailbox is empty afterwards; with read_all = false, getmail's oldmail file
(UIDL-based) makes a second run fetch only the new message.
"""

import os
import unittest
from pathlib import Path

from aviary_test.certificates import HOSTNAME
from aviary_test.interop_case import InteropTestCase, crlf

# getmail's own fields, if it adds them (received/delivered_to are off)
GETMAIL_FIELDS = ("received", "delivered-to", "return-path")


class GetmailTest(InteropTestCase):

    def getmail(self, user, pw, delete=True, read_all=True, password=None, check=True):
        getmail = self.need("getmail")
        maildir = self.home / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        out = self.home / "out"
        out.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            destination = ("type = MDA_external\npath = /bin/sh\n"
                           f'arguments = ("-c", "cat > {out}/msg.$$", "getmail-mda")\n'
                           "allow_root_commands = true\n")
        else:
            destination = f"type = Maildir\npath = {maildir}/\n"
        rc = self.write_private("getmailrc", f"""\
[retriever]
type = SimplePOP3SSLRetriever
server = 127.0.0.1
port = {self.host.pop3s_port}
username = {user}
password = {password or pw}
ca_certs = {self.host.cert}
ssl_cert_hostname = {HOSTNAME}
timeout = 30

[destination]
{destination}
[options]
verbose = 2
delete = {str(delete).lower()}
read_all = {str(read_all).lower()}
received = false
delivered_to = false
message_log_syslog = false
""")
        return self.run_client([getmail, "--rcfile", str(rc), "--getmaildir", str(self.home)],
                               timeout=90, check=check)

    def delivered(self):
        if os.geteuid() == 0:
            files = sorted((self.home / "out").iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
            return [p.read_bytes() for p in files]
        return self.maildir_messages(self.home / "Maildir")

    def clear(self):
        for d in (self.home / "out", self.home / "Maildir" / "new", self.home / "Maildir" / "cur"):
            for p in Path(d).iterdir():
                p.unlink()

    def test_pop3s_delete(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "getmail-pop3s")
        self.getmail(user, pw)
        got = self.delivered()
        self.assertEqual(len(got), 1, f"getmail delivered {len(got)} messages")
        self.assertSameMessage(crlf(got[0]), sent, GETMAIL_FIELDS)
        self.wait_mailbox_empty(user)

    def test_only_new_messages(self):
        user, pw = self.new_user()
        first = self.swaks_send(user, "getmail-new-1")
        self.getmail(user, pw, delete=False, read_all=False)
        got = self.delivered()
        self.assertEqual(len(got), 1)
        self.assertSameMessage(crlf(got[0]), first, GETMAIL_FIELDS)
        self.clear()
        self.getmail(user, pw, delete=False, read_all=False)
        self.assertEqual(self.delivered(), [], "getmail fetched an old message again (UIDL changed?)")
        second = self.swaks_send(user, "getmail-new-2")
        self.getmail(user, pw, delete=False, read_all=False)
        got = self.delivered()
        self.assertEqual(len(got), 1, "only the new message")
        self.assertSameMessage(crlf(got[0]), second, GETMAIL_FIELDS)
        self.assertEqual(len(self.host.messages(user)), 2)

    def test_wrong_password(self):
        user, pw = self.new_user()
        self.swaks_send(user, "getmail-wrong")
        r = self.getmail(user, pw, password=pw + "x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.delivered(), [])
        self.assertEqual(len(self.host.messages(user)), 1)


if __name__ == "__main__":
    unittest.main()
