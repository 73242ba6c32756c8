"""test_bounce.py - delivery status notifications (RFC 3464) and when none may be sent.

A permanent failure - 550 5.1.1 at RCPT from another Aviary host, 554 after
DATA from a scripted server, a null MX (RFC 7505), a domain that does not
exist, a message that has been through more than 50 hops (RFC 5321
§6.3) - puts a multipart/report into the sender's mailbox: From
MAILER-DAEMON@<hostname>, the null envelope sender, a message/delivery-status
part with Final-Recipient, Action: failed and a 5.x.x Status, and the
original headers. The recipients that were delivered are not in it; the
ones that failed are all in one bounce. A
message from the null sender is never bounced, and a bounce that cannot be
delivered simply leaves the queue.
"""

import time
import unittest

from aviary_test.messages import make_message
from aviary_test.relay_case import RelayTestCase


class BounceTest(RelayTestCase):

    def sender_host(self, records, relay=None):
        self.start_dns(records)
        a = self.host("a", "a.test", 2, relay=relay)  # retry = 1h, max_queue_time = 1d
        a.add_user("alice@a.test")
        return a

    def only_bounce(self, a, recipient, status=r"5\.\d{1,3}\.\d{1,3}", marker=None):
        """Waits for exactly one message in alice's mailbox, an empty queue,
        and checks the message is the bounce for recipient."""
        self.wait_count(a, "alice@a.test", 1)
        self.wait_queue_empty(a)
        return self.assertBounce(a.messages("alice@a.test")[0], a, recipient, status=status,
                                 original_marker=marker)

    def test_unknown_user_at_the_other_host(self):
        ip_b = self.net.ip(3)

        def records(dns):
            dns.mx("b.test", "mx.b.test", 10)
            dns.a("mx.b.test", ip_b)
        a = self.sender_host(records)
        b = self.host("b", "b.test", 3)
        b.add_user("bob@b.test")
        subject = self.marker("unknown")
        a.submit("alice@a.test", ["nobody@b.test", "bob@b.test"],
                 make_message("alice@a.test", "nobody@b.test", subject))
        report = self.only_bounce(a, "nobody@b.test", marker=subject)
        self.assertEqual(len(report.recipients), 1, f"only the failed recipient is reported: {report.recipients}")
        block = report.recipient("nobody@b.test")
        self.assertEqual(block["status"], "5.1.1", "b said 550 5.1.1")
        self.assertIn("550", block.get("diagnostic-code", ""), block)
        self.assertEqual(report.message.get("To", "").strip("<> "), "alice@a.test")
        self.assertIsNotNone(report.text, "no human-readable part")
        self.assertIn("nobody@b.test", report.text)
        # bob still gets his copy, exactly one.
        self.wait_count(b, "bob@b.test", 1)
        time.sleep(2)
        self.assertEqual(b.count("bob@b.test"), 1)
        self.assertEqual(a.count("alice@a.test"), 1, "more than one bounce")

    def test_one_bounce_for_several_failed_recipients(self):
        ip4 = self.net.ip(4)
        server = self.scripted(4, name="mx.c.test", rcpt_script={
            "x@c.test": [(550, "5.1.1 No such user x")],
            "y@c.test": [(553, "5.1.3 Bad address y")],
        })
        a = self.sender_host(lambda dns: None, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"}})
        subject = self.marker("two-failed")
        a.submit("alice@a.test", ["x@c.test", "ok@c.test", "y@c.test"],
                 make_message("alice@a.test", "x@c.test", subject))
        report = self.only_bounce(a, "x@c.test", marker=subject)
        time.sleep(2)
        self.assertEqual(a.count("alice@a.test"), 1, "one bounce per message, not one per recipient")
        self.assertEqual(sorted(r.get("final-recipient", "") for r in report.recipients),
                         ["rfc822; x@c.test", "rfc822; y@c.test"])
        self.assertEqual(report.recipient("x@c.test")["status"], "5.1.1")
        self.assertEqual(report.recipient("y@c.test")["status"], "5.1.3")
        self.assertEqual(len(server.delivered_to("ok@c.test")), 1)

    def test_permanent_failure_after_data(self):
        ip4 = self.net.ip(4)
        server = self.scripted(4, name="mx.c.test",
                               data_reply=lambda tx: (554, "5.7.1 Message rejected as spam"))
        a = self.sender_host(lambda dns: None, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"}})
        subject = self.marker("spam")
        a.submit("alice@a.test", ["user@c.test"], make_message("alice@a.test", "user@c.test", subject))
        report = self.only_bounce(a, "user@c.test", marker=subject)
        self.assertEqual(report.recipient("user@c.test")["status"], "5.7.1")
        time.sleep(2)
        self.assertEqual(len([tx for tx in server.snapshot() if tx["data"] is not None]), 1,
                         "a permanently rejected message was sent again")

    def test_null_mx(self):
        def records(dns):
            dns.null_mx("nomail.test")
        a = self.sender_host(records)
        subject = self.marker("nullmx")
        a.submit("alice@a.test", ["user@nomail.test"], make_message("alice@a.test", "user@nomail.test", subject))
        # retry = 1h: a bounce within the wait means it was taken as permanent at once.
        report = self.only_bounce(a, "user@nomail.test", marker=subject)
        self.assertAsked("nomail.test", "MX")
        # RFC 7505 §4.2: the null MX is reported as 5.1.10.
        self.assertEqual(report.recipient("user@nomail.test")["status"], "5.1.10")

    def test_domain_that_does_not_exist(self):
        a = self.sender_host(lambda dns: None)  # --local=/test/: NXDOMAIN for everything
        subject = self.marker("nxdomain")
        a.submit("alice@a.test", ["user@nxdomain.test"],
                 make_message("alice@a.test", "user@nxdomain.test", subject))
        self.only_bounce(a, "user@nxdomain.test", marker=subject)
        self.assertAsked("nxdomain.test", "MX")

    def test_too_many_received_headers(self):
        """Submission refuses a looping message at DATA (554 5.4.0, smtpd.max_hops);
        one queued before the limit was lowered is bounced by the relay (5.4.6)."""
        ip_b = self.net.ip(3)

        def records(dns):
            dns.mx("b.test", "mx.b.test", 10)
            dns.a("mx.b.test", ip_b)
        self.start_dns(records)
        a = self.host("a", "a.test", 2, smtpd={"max_hops": 100})
        a.add_user("alice@a.test")
        b = self.host("b", "b.test", 3, start=False)  # down: the message waits in a's queue
        b.add_user("bob@b.test")
        hops = b"".join(f"Received: from hop{i}.example.net by hop{i + 1}.example.net; "
                        f"Sat, 28 Nov 2026 11:{i:02d}:00 +0000\r\n".encode() for i in range(55))
        subject = self.marker("loop")
        looping = make_message("alice@a.test", "bob@b.test", subject, extra_headers=hops)
        a.submit("alice@a.test", ["bob@b.test"], looping)
        self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 1), None), "a deferred attempt")

        # The limit comes down to its default: new looping mail is refused at DATA ...
        self.assertEqual(a.smtpd.stop(30), 0, a.smtpd.log_tail())
        a.smtpd_options["max_hops"] = 50
        a.write_config()
        a.start()
        with self.assertRaisesRegex(AssertionError, r"end of DATA answered 554 b'5\.4\.0"):
            a.submit("alice@a.test", ["bob@b.test"], looping)
        # ... and the queued one is bounced, never relayed.
        b.start()
        a.flush()
        report = self.only_bounce(a, "bob@b.test", status=r"5\.4\.6", marker=subject)
        self.assertIn("5.4.6", report.raw.decode("utf-8", "replace"))
        time.sleep(1)
        self.assertEqual(b.count("bob@b.test"), 0, "a looping message was relayed")

    def test_no_bounce_to_the_null_sender(self):
        ip4 = self.net.ip(4)
        server = self.scripted(4, name="mx.c.test",
                               rcpt_script={"gone@c.test": [(550, "5.1.1 No such user")]})
        a = self.sender_host(lambda dns: None, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"}})
        a.add_user("postmaster@a.test")
        a.add_alias("fwd@a.test", "gone@c.test")
        r = a.inject("", ["fwd@a.test"], make_message("MAILER-DAEMON@elsewhere.test", "fwd@a.test",
                                                      self.marker("nullsender")))
        self.assertEqual(r.code, 250, r)
        self.wait_for(lambda: server.rcpt_count("gone@c.test") >= 1, "the attempt to gone@c.test")
        self.wait_queue_empty(a)
        time.sleep(3)
        txs = server.snapshot()
        self.assertEqual(len(txs), 1, f"something was sent after the failure:\n{server.log_tail(80)}")
        self.assertEqual(txs[0]["sender"], "")
        self.assertEqual(a.queue(), [])
        self.assertEqual(a.count("alice@a.test"), 0)
        self.assertEqual(a.count("postmaster@a.test"), 0, "a bounce of a null-sender message went to postmaster")

    def test_undeliverable_bounce_disappears(self):
        ip4 = self.net.ip(4)
        server = self.scripted(
            4, name="mx.c.test",
            rcpt_script={"gone@c.test": [(550, "5.1.1 No such user")]},
            # The bounce to sender@c.test is refused after its data.
            data_reply=lambda tx: (554, "5.7.1 No bounces here") if tx["sender"] == "" else (250, "2.0.0 Ok"))
        a = self.sender_host(lambda dns: None, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"}})
        a.add_user("postmaster@a.test")
        a.add_alias("fwd@a.test", "gone@c.test")
        subject = self.marker("doublebounce")
        r = a.inject("sender@c.test", ["fwd@a.test"], make_message("sender@c.test", "fwd@a.test", subject))
        self.assertEqual(r.code, 250, r)

        # The forward fails; the bounce goes to sender@c.test, from <>, and is refused.
        bounce = self.wait_for(lambda: next((tx for tx in server.snapshot()
                                             if tx["sender"] == "" and tx["data"] is not None), None),
                               "the bounce to sender@c.test")
        self.assertEqual([addr for addr, _c in bounce["rcpts"]], ["sender@c.test"])
        self.assertBounce(b"Return-Path: <>\r\n" + bounce["data"], a, "gone@c.test", original_marker=subject)
        self.wait_queue_empty(a)
        time.sleep(3)
        txs = server.snapshot()
        self.assertEqual(len(txs), 2, f"expected the forward and one bounce, nothing more:\n{server.log_tail(80)}")
        self.assertEqual(txs[0]["rcpts"], [("gone@c.test", 550)])
        self.assertEqual(txs[1]["sender"], "")
        self.assertEqual(a.queue(), [])
        self.assertEqual(a.count("postmaster@a.test"), 0)


if __name__ == "__main__":
    unittest.main()
