"""test_submission_hardening.py - issue 11 on the submission listeners:

  item 28  a domain-literal recipient (user@[10.0.0.1]) would go straight to
           that address, past the smarthost and the routes: refused unless a
           [relay] route names the literal;
  item 15  more than max_hops Received: fields is refused on every listener,
           submission (587 and 465) included.
"""

import unittest

from aviary_test.ports import free_port
from aviary_test.smtp import dot_stuff
from aviary_test.submission_case import SubmissionTestCase

ROUTED_LITERAL = "[192.0.2.9]"


class LiteralTest(SubmissionTestCase):

    def test_domain_literals_refused(self):
        for listener in ("submission", "submissions"):
            for rcpt in ("root@[10.0.0.1]", "x@[127.0.0.1]", "x@[IPv6:::1]", "x@[192.0.2.10]"):
                with self.subTest(listener=listener, rcpt=rcpt):
                    c = self.session(listener, user="alice@example.test")
                    self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
                    self.assertReply(c.cmd(f"RCPT TO:<{rcpt}>"), "550", "5.7.1")
                    # The transaction goes on with the other recipients.
                    self.assertReply(c.cmd("RCPT TO:<someone@remote.test>"), "250")
                    self.assertReply(c.cmd("QUIT"), "221")


class RoutedLiteralTest(SubmissionTestCase):

    routes = {ROUTED_LITERAL: f"127.0.0.1:{free_port()}"}
    test_domain_literals_refused = LiteralTest.test_domain_literals_refused  # other literals still are

    def test_routed_literal_accepted(self):
        self.assertIn(f'"{ROUTED_LITERAL}" = ', self.daemon.config.read_text())
        before = len(self.daemon.store.queue())
        c = self.session("submission", user="alice@example.test")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
        self.assertReply(c.cmd(f"RCPT TO:<postmaster@{ROUTED_LITERAL}>"), "250", "2.1.5")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(dot_stuff(b"Subject: to a routed literal\r\n\r\nhi\r\n") + b".\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertEqual(len(self.daemon.store.queue()), before + 1)


def with_received(n):
    return b"".join(b"Received: from h%d.example.net by h%d.example.net; Mon, 30 Nov 2026 10:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(n)) + b"Subject: hops\r\n\r\nloop?\r\n"


class HopsTest(SubmissionTestCase):

    def test_too_many_hops_on_submission(self):
        for listener in ("submission", "submissions"):
            for hops, code in ((30, "250"), (51, "554")):
                with self.subTest(listener=listener, hops=hops):
                    c = self.session(listener, user="alice@example.test")
                    self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
                    self.assertReply(c.cmd("RCPT TO:<bob@example.test>"), "250")
                    self.assertReply(c.cmd("DATA"), "354")
                    c.send(dot_stuff(with_received(hops)) + b".\r\n")
                    self.assertReply(c.reply(), code, "5.4.0" if code == "554" else "2.0.0")
                    self.assertReply(c.cmd("QUIT"), "221")


if __name__ == "__main__":
    unittest.main()
