"""test_postfix.py - Aviary's outbound SMTP against Postfix, and Postfix's against Aviary.

A private Postfix (aviary_test.postfix_case) hosts pf.test in Maildirs and relays
for loopback clients. Aviary relays alice@a.test's mail to it, once through
relay.routes and once through an MX record at a private dnsmasq, using
STARTTLS because Postfix offers it; a recipient Postfix does not know
(550 5.1.1) comes back to alice as an RFC 3464 bounce. The other way,
Postfix relays a message to Aviary's port-25 listener (transport_maps) with
STARTTLS and it lands in bob's mailbox; and Aviary's own bounce to a
sender at pf.test is delivered by Postfix into a Maildir intact.
"""

import re
import smtplib
import time
import unittest


from aviary_test.dsn import Report
from aviary_test.messages import make_message, split_trace
from aviary_test.postfix_case import POSTFIX_HOSTNAME, PostfixTestCase


class PostfixInteropTest(PostfixTestCase):

    def aviary_sender(self, relay=None, records=None):
        if records is not None:
            self.start_dns(records)
        a = self.host("a", "a.test", 2, relay=relay)
        a.add_user("alice@a.test")
        return a

    def assertPostfixGot(self, pf, user, subject, sender_host):
        got = self.wait_for(lambda: [m for m in pf.maildir(user) if subject.encode() in m],
                            f"the message in {user}'s Maildir at Postfix")
        self.assertEqual(len(got), 1)
        head = got[0].split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        # The topmost Received: is Postfix's, for the hop from Aviary.
        fields = re.findall(r"(?m)^([\w-]+):([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
        received = next(("Received:" + v for n, v in fields if n.lower() == "received"), None)
        self.assertIsNotNone(received, head)
        received = re.sub(r"\r\n[ \t]+", " ", received)
        self.assertRegex(received, r"^Received: from mail\.a\.test\b", received)
        self.assertRegex(received, r"\bby " + re.escape(POSTFIX_HOSTNAME) + r"\b")
        self.assertRegex(received, r"\bwith ESMTPS\b", "Aviary did not use the STARTTLS Postfix offers")
        self.assertIn("Return-Path: <alice@a.test>", head)
        return got[0]

    def test_aviary_relays_to_postfix_through_a_route(self):
        pf = self.start_postfix(users=["user@pf.test"])
        a = self.aviary_sender(relay={"routes": {"pf.test": f"127.0.0.1:{pf.port}"}})
        subject = self.marker("route")
        sent = make_message("alice@a.test", "user@pf.test", subject, body="Hello Postfix.\r\n.\r\n..\r\nend\r\n")
        a.submit("alice@a.test", ["user@pf.test"], sent)
        got = self.assertPostfixGot(pf, "user@pf.test", subject, a)
        head, body = sent.split(b"\r\n\r\n", 1)
        self.assertTrue(got.endswith(b"\r\n\r\n" + body), "the body changed between Aviary and Postfix's Maildir")
        self.assertIn(f"Subject: {subject}\r\n".encode(), got)
        self.wait_queue_empty(a)
        time.sleep(2)
        self.assertEqual(len(pf.maildir("user@pf.test")), 1, "delivered twice")
        self.assertEqual(a.count("alice@a.test"), 0)

    def test_aviary_relays_to_postfix_through_mx(self):
        pf = self.start_postfix(users=["user@pf.test"])

        def records(dns):
            dns.mx("pf.test", "mx.pf.test", 10)
            dns.a("mx.pf.test", "127.0.0.1")
        # relay.smtp_port is the port of every MX host: here Postfix's.
        a = self.aviary_sender(relay={"smtp_port": pf.port}, records=records)
        subject = self.marker("mx")
        a.submit("alice@a.test", ["user@pf.test"], make_message("alice@a.test", "user@pf.test", subject))
        self.assertPostfixGot(pf, "user@pf.test", subject, a)
        self.wait_queue_empty(a)

    def test_postfix_rejection_comes_back_as_a_bounce(self):
        pf = self.start_postfix(users=["user@pf.test"])
        a = self.aviary_sender(relay={"routes": {"pf.test": f"127.0.0.1:{pf.port}"}})
        subject = self.marker("unknown")
        a.submit("alice@a.test", ["nobody@pf.test", "user@pf.test"],
                 make_message("alice@a.test", "nobody@pf.test", subject))
        self.wait_count(a, "alice@a.test", 1)
        self.wait_queue_empty(a)
        report = self.assertBounce(a.messages("alice@a.test")[0], a, "nobody@pf.test", original_marker=subject)
        block = report.recipient("nobody@pf.test")
        self.assertEqual(block["status"], "5.1.1", block)
        self.assertIn("User unknown", block.get("diagnostic-code", ""), block)
        self.assertIsNone(report.recipient("user@pf.test"), "the delivered recipient is in the bounce")
        self.assertEqual(len([m for m in pf.maildir("user@pf.test") if subject.encode() in m]), 1)

    def test_postfix_relays_to_aviary(self):
        b = self.host("b", "b.test", 3)
        b.add_user("bob@b.test")
        pf = self.start_postfix(transports={"b.test": f"smtp:[{b.ip}]:{b.smtp_port}"})
        subject = self.marker("from-postfix")
        sent = make_message("sender@pf.test", "bob@b.test", subject, body="From Postfix to Aviary.\r\n")
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30, local_hostname="client.pf.test") as s:
            refused = s.sendmail("sender@pf.test", ["bob@b.test"], sent)
        self.assertEqual(refused, {})
        self.wait_count(b, "bob@b.test", 1, timeout=30)
        stored = b.messages("bob@b.test")[0]
        fields, rest = split_trace(stored)
        self.assertEqual([n.lower() for n, _ in fields], ["return-path", "delivered-to", "received"], stored[:600])
        self.assertEqual(fields[0][1], "<sender@pf.test>")
        self.assertRegex(fields[2][1], r"^from " + re.escape(POSTFIX_HOSTNAME) + r"\b")
        self.assertRegex(fields[2][1], r"\bwith ESMTPS\b", "Postfix did not use Aviary's STARTTLS")
        self.assertIn(subject.encode(), rest)
        self.assertTrue(rest.rstrip(b"\r\n").endswith(b"From Postfix to Aviary."))
        self.wait_for(lambda: not pf.queue_files(), "Postfix's queue to drain")
        self.assertRegex(pf.log(), r"to=<bob@b\.test>.*status=sent")

    def test_aviary_bounce_delivered_by_postfix(self):
        pf = self.start_postfix(users=["sender@pf.test"])
        server = self.scripted(4, name="mx.c.test", rcpt_script={"gone@c.test": [(550, "5.1.1 No such user")]})
        a = self.aviary_sender(relay={"routes": {"c.test": f"{self.net.ip(4)}:{self.net.smtp_port}",
                                                 "pf.test": f"127.0.0.1:{pf.port}"}})
        a.add_alias("fwd@a.test", "gone@c.test")
        subject = self.marker("bounce-to-postfix")
        r = a.inject("sender@pf.test", ["fwd@a.test"], make_message("sender@pf.test", "fwd@a.test", subject))
        self.assertEqual(r.code, 250, r)
        got = self.wait_for(lambda: pf.maildir("sender@pf.test"), "Aviary's bounce in sender's Maildir at Postfix")
        self.wait_queue_empty(a)
        self.assertEqual(len(got), 1)
        self.assertIn(b"Return-Path: <>", got[0].split(b"\r\n\r\n", 1)[0])
        body = got[0]
        # Postfix's own trace fields first; the report itself follows them unchanged.
        report = Report(body)
        self.assertEqual(report.content_type, "multipart/report")
        self.assertEqual((report.report_type or "").lower(), "delivery-status")
        block = report.recipient("gone@c.test")
        self.assertIsNotNone(block, report.recipients)
        self.assertEqual(block["action"].lower(), "failed")
        self.assertRegex(block["status"], r"^5\.\d{1,3}\.\d{1,3}$")
        self.assertIn(subject.encode(), report.original or b"")
        self.assertEqual(server.delivered_to("gone@c.test"), [])


if __name__ == "__main__":
    unittest.main()
