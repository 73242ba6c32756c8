"""test_poplib.py - Python's poplib fetches what swaks sent, over plain POP3
(allow_plaintext_auth = true), STLS and POP3S; and its view of CAPA, UIDL,
TOP, DELE and QUIT; with allow_plaintext_auth = false, poplib's USER before
STLS is refused with [AUTH].
"""

import poplib
import ssl
import unittest

from aviary_test.certificates import HOSTNAME
from aviary_test.interop_case import InteropTestCase

TIMEOUT = 30


def message_of(lines):
    """poplib returns lines without CRLF, dot-unstuffed."""
    return b"".join(line + b"\r\n" for line in lines)


class PoplibTest(InteropTestCase):

    pop3d_options = {"allow_plaintext_auth": True}

    def context(self):
        return ssl.create_default_context(cafile=str(self.host.cert))

    def plain(self):
        p = poplib.POP3("127.0.0.1", self.host.pop3_port, timeout=TIMEOUT)
        self.addCleanup(p.close)
        return p

    def pop3s(self):
        p = poplib.POP3_SSL("127.0.0.1", self.host.pop3s_port, timeout=TIMEOUT, context=self.context())
        self.addCleanup(p.close)
        return p

    def fetch_and_delete(self, p, user, pw, sent):
        self.assertTrue(p.getwelcome().startswith(b"+OK"))
        p.user(user)
        p.pass_(pw)
        count, size = p.stat()
        self.assertEqual(count, 1)
        stored = self.host.messages(user)[0]
        self.assertEqual(size, len(stored))
        resp, lines, octets = p.retr(1)
        self.assertEqual(octets, len(stored))
        data = message_of(lines)
        self.assertEqual(data, stored)
        self.assertSameMessage(data, sent)
        p.dele(1)
        p.quit()
        self.wait_mailbox_empty(user)

    def test_plain(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "poplib-plain")
        self.fetch_and_delete(self.plain(), user, pw, sent)

    def test_stls(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "poplib-stls")
        p = self.plain()
        self.assertIn("STLS", p.capa())
        p.stls(context=self.context())
        self.assertNotIn("STLS", p.capa())
        self.fetch_and_delete(p, user, pw, sent)

    def test_pop3s(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "poplib-pop3s")
        p = self.pop3s()
        self.assertEqual(p.sock.getpeercert()["subjectAltName"][0], ("DNS", HOSTNAME))
        self.fetch_and_delete(p, user, pw, sent)

    def test_capa(self):
        caps = self.pop3s().capa()
        for wanted in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                       "IMPLEMENTATION"):
            self.assertIn(wanted, caps)
        self.assertIn("PLAIN", caps["SASL"])

    def test_uidl_top_rset_list(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "poplib-uidl")
        self.swaks_send(user, "poplib-uidl-2")
        p = self.pop3s()
        p.user(user)
        p.pass_(pw)
        resp, listing, _ = p.uidl()
        uids = [line.split()[1] for line in listing]
        self.assertEqual(len(set(uids)), 2)
        self.assertEqual(p.uidl(1).split()[2], uids[0])
        resp, lines, _ = p.top(1, 2)
        head = self.host.messages(user)[0].split(b"\r\n\r\n")[0]
        body = sent.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(message_of(lines), head + b"\r\n\r\n" + b"\r\n".join(body.split(b"\r\n")[:2]) + b"\r\n")
        p.dele(1)
        with self.assertRaises(poplib.error_proto):
            p.retr(1)
        p.rset()
        self.assertEqual(p.stat()[0], 2)
        resp, listing, _ = p.list()
        self.assertEqual(len(listing), 2)
        p.quit()
        self.assertEqual(len(self.host.messages(user)), 2)

    def test_wrong_password(self):
        user, pw = self.new_user()
        p = self.pop3s()
        p.user(user)
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_(pw + "x")
        self.assertTrue(str(e.exception).startswith("b'-ERR [AUTH]"), str(e.exception))

    def test_in_use(self):
        user, pw = self.new_user()
        a = self.pop3s()
        a.user(user)
        a.pass_(pw)
        b = self.pop3s()
        b.user(user)
        with self.assertRaises(poplib.error_proto) as e:
            b.pass_(pw)
        self.assertTrue(str(e.exception).startswith("b'-ERR [IN-USE]"), str(e.exception))
        a.quit()


class PoplibTlsRequiredTest(InteropTestCase):

    pop3d_options = {"allow_plaintext_auth": False}

    def test_user_refused_before_stls(self):
        user, pw = self.new_user()
        p = poplib.POP3("127.0.0.1", self.host.pop3_port, timeout=TIMEOUT)
        self.addCleanup(p.close)
        caps = p.capa()
        self.assertNotIn("USER", caps)
        self.assertNotIn("SASL", caps)
        with self.assertRaises(poplib.error_proto) as e:
            p.user(user)
        self.assertTrue(str(e.exception).startswith("b'-ERR [AUTH]"), str(e.exception))
        p.stls(context=ssl.create_default_context(cafile=str(self.host.cert)))
        p.user(user)
        p.pass_(pw)
        self.assertEqual(p.stat(), (0, 0))
        p.quit()


if __name__ == "__main__":
    unittest.main()
