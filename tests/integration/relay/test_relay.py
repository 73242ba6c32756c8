"""test_relay.py - mail from one Aviary host to another, found through DNS.

alice@a.test submits with smtplib (STARTTLS, AUTH) to host a; a looks up
b.test's MX at a private dnsmasq and relays over SMTP (opportunistic
STARTTLS) to host b, where bob fetches the message with poplib over STLS.
Then the routing rules one at a time, against scripted servers: MX
preference order, the next MX when the first refuses connections, the A
record when there is no MX, relay.routes before DNS, relay.smarthost for
everything, what the client sends (SIZE, PIPELINING), plaintext after a
454 to STARTTLS (opportunistic TLS), and a server's SIZE limit respected.
"""

import poplib
import re
import time
import unittest

from aviary_test.messages import make_message, split_trace
from aviary_test.relay_case import RelayTestCase


class RelayTest(RelayTestCase):

    def two_hosts(self, pop3d=False):
        ip_a, ip_b = self.net.ip(2), self.net.ip(3)

        def records(dns):
            dns.mx("a.test", "mx.a.test", 10)
            dns.a("mx.a.test", ip_a)
            dns.mx("b.test", "mx.b.test", 10)
            dns.a("mx.b.test", ip_b)
        self.start_dns(records)
        a = self.host("a", "a.test", 2)
        b = self.host("b", "b.test", 3, pop3d=pop3d)
        a.add_user("alice@a.test")
        b.add_user("bob@b.test")
        return a, b

    def test_submission_relayed_through_mx_and_fetched_by_pop3(self):
        a, b = self.two_hosts(pop3d=True)
        subject = self.marker("a-to-b")
        sent = make_message("alice@a.test", "bob@b.test", subject, body=f"Body of {subject}.\r\n.dot line\r\n")
        a.submit("alice@a.test", ["bob@b.test"], sent)

        self.wait_count(b, "bob@b.test", 1)
        self.wait_queue_empty(a)
        self.assertEqual(a.count("alice@a.test"), 0, "alice got something back (a bounce?)")
        self.assertAsked("b.test", "MX")

        # bob fetches it from the other host's aviary-pop3d, over STLS.
        p = poplib.POP3(b.ip, b.pop3_port, timeout=30)
        self.addCleanup(p.close)
        p.stls(context=b.tls_context())
        p.user("bob@b.test")
        p.pass_(b.passwords["bob@b.test"])
        count, _size = p.stat()
        self.assertEqual(count, 1)
        _resp, lines, _octets = p.retr(1)
        fetched = b"".join(line + b"\r\n" for line in lines)
        p.quit()

        self.assertEqual(fetched, b.messages("bob@b.test")[0])
        fields, rest = split_trace(fetched)
        self.assertEqual([n.lower() for n, _ in fields], ["return-path", "delivered-to", "received"],
                         fetched[:600])
        self.assertEqual(fields[0][1], "<alice@a.test>")
        # b's Received: from a (HELO mail.a.test, a's address), over TLS:
        # a used STARTTLS because b offered it (opportunistic TLS).
        received_b = fields[2][1]
        self.assertRegex(received_b, r"^from mail\.a\.test\b", received_b)
        self.assertRegex(received_b, r"\bby mail\.b\.test\b")
        self.assertRegex(received_b, r"\bwith ESMTPS\b", "a did not use STARTTLS towards b")
        # Below it a's own Received (submission with TLS and AUTH), then
        # exactly what alice sent.
        first = rest.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        self.assertRegex(first, r"(?s)^Received: .*?\bby mail\.a\.test\b.*?\bwith ESMTPSA\b")
        self.assertTrue(rest.endswith(sent), "the message changed on the way")
        self.assertEqual(rest.count(b"Received:"), 1 + sent.count(b"Received:"))

    def test_reply_back_from_b_to_a(self):
        a, b = self.two_hosts()
        subject = self.marker("b-to-a")
        b.submit("bob@b.test", ["alice@a.test"], make_message("bob@b.test", "alice@a.test", subject))
        self.wait_count(a, "alice@a.test", 1)
        self.wait_queue_empty(b)
        self.assertIn(subject.encode(), a.messages("alice@a.test")[0])

    def test_several_recipients_one_transaction_each_delivered_once(self):
        a, b = self.two_hosts()
        b.add_user("carol@b.test")
        b.add_user("dave@b.test")
        subject = self.marker("three")
        rcpts = ["bob@b.test", "carol@b.test", "dave@b.test"]
        a.submit("alice@a.test", rcpts, make_message("alice@a.test", "bob@b.test", subject))
        for r in rcpts:
            self.wait_count(b, r, 1)
        self.wait_queue_empty(a)
        time.sleep(2.5)  # the runner polls every second: nothing more may arrive
        for r in rcpts:
            self.assertEqual(b.count(r), 1, r)
            self.assertIn(subject.encode(), b.messages(r)[0])

    # -- routing against scripted servers ---------------------------------------

    def one_sender(self, records, relay=None):
        self.start_dns(records)
        a = self.host("a", "a.test", 2, relay=relay)
        a.add_user("alice@a.test")
        return a

    def test_mx_preference_order(self):
        ip4, ip5 = self.net.ip(4), self.net.ip(5)

        def records(dns):
            # Listed worst first: the order of the answer must not matter.
            dns.mx("pref.test", "mx20.pref.test", 20)
            dns.mx("pref.test", "mx10.pref.test", 10)
            dns.a("mx20.pref.test", ip4)
            dns.a("mx10.pref.test", ip5)
        a = self.one_sender(records)
        worse, better = self.scripted(4, name="mx20.pref.test"), self.scripted(5, name="mx10.pref.test")
        subject = self.marker("pref")
        a.submit("alice@a.test", ["user@pref.test"], make_message("alice@a.test", "user@pref.test", subject))
        self.wait_for(lambda: better.delivered_to("user@pref.test"), "delivery to the preference-10 MX")
        self.wait_queue_empty(a)
        self.assertEqual(len(better.delivered_to("user@pref.test")), 1)
        self.assertEqual(worse.snapshot(), [], "the preference-20 MX was used although 10 accepted")
        self.assertIn(subject.encode(), better.delivered_to("user@pref.test")[0]["data"])

    def test_next_mx_when_the_first_refuses_connections(self):
        ip4, ip6 = self.net.ip(4), self.net.ip(6)

        def records(dns):
            dns.mx("fallback.test", "dead.fallback.test", 10)
            dns.mx("fallback.test", "alive.fallback.test", 20)
            dns.a("dead.fallback.test", ip6)  # nothing listens there
            dns.a("alive.fallback.test", ip4)
        a = self.one_sender(records)  # retry = 1h: it must happen in the first attempt
        alive = self.scripted(4, name="alive.fallback.test")
        a.submit("alice@a.test", ["user@fallback.test"], make_message("alice@a.test", "user@fallback.test",
                                                                      self.marker("fallback")))
        self.wait_for(lambda: alive.delivered_to("user@fallback.test"), "delivery to the second MX")
        self.wait_queue_empty(a)
        self.assertEqual(len(alive.delivered_to("user@fallback.test")), 1)

    def test_a_record_when_there_is_no_mx(self):
        ip4 = self.net.ip(4)

        def records(dns):
            dns.a("aonly.test", ip4)  # RFC 5321 §5.1: the implicit MX
        a = self.one_sender(records)
        server = self.scripted(4, name="aonly.test")
        a.submit("alice@a.test", ["user@aonly.test"], make_message("alice@a.test", "user@aonly.test",
                                                                   self.marker("aonly")))
        self.wait_for(lambda: server.delivered_to("user@aonly.test"), "delivery to the A record's address")
        self.wait_queue_empty(a)

    def test_route_wins_over_dns(self):
        ip4, ip5 = self.net.ip(4), self.net.ip(5)

        def records(dns):
            dns.mx("partner.test", "mx.partner.test", 10)
            dns.a("mx.partner.test", ip5)
        route = self.scripted(4, name="route.partner.test")
        mx = self.scripted(5, name="mx.partner.test")
        a = self.one_sender(records, relay={"routes": {"partner.test": f"{ip4}:{self.net.smtp_port}"}})
        a.submit("alice@a.test", ["user@partner.test"], make_message("alice@a.test", "user@partner.test",
                                                                     self.marker("route")))
        self.wait_for(lambda: route.delivered_to("user@partner.test"), "delivery through relay.routes")
        self.wait_queue_empty(a)
        self.assertEqual(mx.snapshot(), [], "the MX was used although relay.routes names the next hop")

    def test_smarthost_takes_everything_else(self):
        ip5 = self.net.ip(5)

        def records(dns):
            dns.mx("far.test", "mx.far.test", 10)
            dns.a("mx.far.test", ip5)
        smarthost = self.scripted(4, name="smarthost.test")
        mx = self.scripted(5, name="mx.far.test")
        a = self.one_sender(records, relay={"smarthost": f"{self.net.ip(4)}:{self.net.smtp_port}"})
        a.submit("alice@a.test", ["user@far.test"], make_message("alice@a.test", "user@far.test",
                                                                 self.marker("smarthost")))
        self.wait_for(lambda: smarthost.delivered_to("user@far.test"), "delivery through the smarthost")
        self.wait_queue_empty(a)
        self.assertEqual(mx.snapshot(), [], "the MX was used although relay.smarthost is set")

    def test_size_and_pipelining_when_offered(self):
        ip4 = self.net.ip(4)

        def records(dns):
            dns.mx("ext.test", "mx.ext.test", 10)
            dns.a("mx.ext.test", ip4)
        a = self.one_sender(records)
        server = self.scripted(4, name="mx.ext.test")
        sent = make_message("alice@a.test", "one@ext.test", self.marker("ext"), body=("x" * 70 + "\r\n") * 72)
        a.submit("alice@a.test", ["one@ext.test", "two@ext.test"], sent)
        self.wait_for(lambda: server.delivered_to("two@ext.test"), "delivery")
        self.wait_queue_empty(a)
        txs = server.snapshot()
        self.assertEqual(len(txs), 1, f"one transaction for both recipients: {txs!r}")
        tx = txs[0]
        m = re.search(r"(?i)\sSIZE=(\d+)", tx["mail"])
        self.assertIsNotNone(m, f"no SIZE= in {tx['mail']!r} although the server offers SIZE (RFC 1870)")
        self.assertGreaterEqual(int(m.group(1)), len(sent))
        self.assertTrue(tx["pipelined"], "MAIL was not followed by pipelined RCPTs although PIPELINING "
                                         "is offered (RFC 2920)")
        self.assertEqual(sorted(a for a, _c in tx["rcpts"]), ["one@ext.test", "two@ext.test"])
        self.assertTrue(tx["data"].endswith(sent))

    def test_starttls_refused_continues_in_plaintext(self):
        ip4 = self.net.ip(4)

        def records(dns):
            dns.mx("notls.test", "mx.notls.test", 10)
            dns.a("mx.notls.test", ip4)
        a = self.one_sender(records)
        server = self.scripted(4, name="mx.notls.test",
                               extensions=("PIPELINING", "STARTTLS", "ENHANCEDSTATUSCODES"))
        a.submit("alice@a.test", ["user@notls.test"], make_message("alice@a.test", "user@notls.test",
                                                                   self.marker("notls")))
        self.wait_for(lambda: server.delivered_to("user@notls.test"), "plaintext delivery after 454 to STARTTLS")
        self.wait_queue_empty(a)
        self.assertIn("C: STARTTLS", server.log_tail(200), "the offered STARTTLS was not even tried")
        self.assertEqual(a.count("alice@a.test"), 0)

    def test_size_refused_by_the_server_bounces(self):
        ip4 = self.net.ip(4)

        def records(dns):
            dns.mx("small.test", "mx.small.test", 10)
            dns.a("mx.small.test", ip4)
        a = self.one_sender(records)
        server = self.scripted(4, name="mx.small.test",
                               extensions=("PIPELINING", "SIZE 2000", "ENHANCEDSTATUSCODES"))
        subject = self.marker("toobig")
        a.submit("alice@a.test", ["user@small.test"],
                 make_message("alice@a.test", "user@small.test", subject, body=("y" * 70 + "\r\n") * 60))
        self.wait_count(a, "alice@a.test", 1)
        self.wait_queue_empty(a)
        self.assertBounce(a.messages("alice@a.test")[0], a, "user@small.test", original_marker=subject)
        self.assertEqual(server.delivered_to("user@small.test"), [],
                         "a message over the server's SIZE limit was sent anyway")


if __name__ == "__main__":
    unittest.main()
