"""test_queue.py - the outbound queue: deferral, restarts, flush, retries.

A destination that is down leaves the message queued (aviaryctl queue list
shows it, recipient pending); the queue survives a restart of
aviary-smtpd, a SIGKILL too; once the destination is back, `aviaryctl
queue flush` delivers it within seconds, exactly once; `aviaryctl queue
del` drops an entry without delivery or bounce. 25 messages to three
recipients each arrive exactly once. A scripted server that answers
one recipient 2xx and the other 4xx gets the 2xx one once and the 4xx one on
a later attempt (relay.retry = ["1s"]), never twice. relay.max_queue_time
turns a recipient that never gets through into a bounce. relay.retry =
["1s", "6s"] retries after 1 s, then every 6 s. The delivery metrics count
all three outcomes.
"""

import re
import time
import unittest

from aviary_test.messages import make_message
from aviary_test.relay_case import RelayTestCase, WAIT


def pending(entry):
    return [r["address"] for r in entry["recipients"] if r["status"] == "pending"]


class QueueTest(RelayTestCase):

    def b_records(self, dns):
        dns.mx("b.test", "mx.b.test", 10)
        dns.a("mx.b.test", self.net.ip(3))

    def test_deferred_survives_restart_and_flush_delivers_once(self):
        self.start_dns(self.b_records)
        a = self.host("a", "a.test", 2)  # retry = 1h: only a flush makes it due again
        b = self.host("b", "b.test", 3, start=False)  # down: nothing listens on b's address
        a.add_user("alice@a.test")
        b.add_user("bob@b.test")
        subject = self.marker("deferred")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", subject))

        # The first attempt fails (connection refused) and the entry stays, pending.
        entry = self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 1), None),
                              "a failed first attempt recorded in the queue")
        self.assertEqual(entry["sender"], "alice@a.test")
        self.assertEqual(pending(entry), ["bob@b.test"], entry)
        self.assertGreater(entry["next_attempt"], time.time() + 60, "retry = 1h, yet the next attempt is soon")
        listing = a.ctl("queue", "list").stdout
        self.assertIn("<alice@a.test>", listing)
        self.assertIn(entry["message_id"], listing)
        shown = a.ctl("queue", "show", str(entry["id"])).stdout
        self.assertIn("bob@b.test", shown)
        self.assertRegex(shown, r"\bpending\b")
        self.assertEqual(a.count("alice@a.test"), 0, "a temporary failure produced a bounce")
        self.assertRegex(a.smtpd.log(), r"bob@b\.test.*\bdeferred\b", "no log line for the deferred attempt")

        # aviary-smtpd restarts; the queue is still there, untouched.
        self.assertEqual(a.smtpd.stop(30), 0, a.smtpd.log_tail())
        a.start()
        time.sleep(1.5)
        after = a.queue()
        self.assertEqual([e["id"] for e in after], [entry["id"]], after)
        self.assertEqual(pending(after[0]), ["bob@b.test"])

        # The destination comes back; flush makes the entry due now.
        b.start()
        self.assertEqual(b.count("bob@b.test"), 0)
        flushed = a.flush()
        self.assertRegex(flushed, r"flushed 1 queue entry")
        self.wait_count(b, "bob@b.test", 1, timeout=WAIT)
        self.wait_queue_empty(a)
        time.sleep(3)  # the runner polls every second: no second copy may follow
        self.assertEqual(b.count("bob@b.test"), 1, "delivered more than once")
        self.assertIn(subject.encode(), b.messages("bob@b.test")[0])
        self.assertEqual(a.queue(), [])
        self.assertEqual(a.count("alice@a.test"), 0, "alice got a bounce for a delivered message")
        self.assertAlive(a, b)

    def deferred_entry(self, a, b, subject):
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", subject))
        return self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 1), None),
                             "a failed first attempt recorded in the queue")

    def test_queue_survives_sigkill(self):
        self.start_dns(self.b_records)
        a = self.host("a", "a.test", 2)
        b = self.host("b", "b.test", 3, start=False)
        a.add_user("alice@a.test")
        b.add_user("bob@b.test")
        subject = self.marker("killed")
        entry = self.deferred_entry(a, b, subject)
        a.smtpd.kill()  # SIGKILL: no chance to tidy up
        a.start()
        self.assertEqual([e["id"] for e in a.queue()], [entry["id"]])
        b.start()
        a.flush()
        self.wait_count(b, "bob@b.test", 1)
        self.wait_queue_empty(a)
        time.sleep(2.5)
        self.assertEqual(b.count("bob@b.test"), 1, "delivered more than once")
        self.assertIn(subject.encode(), b.messages("bob@b.test")[0])

    def test_queue_del_removes_without_delivery_or_bounce(self):
        self.start_dns(self.b_records)
        a = self.host("a", "a.test", 2)
        b = self.host("b", "b.test", 3, start=False)
        a.add_user("alice@a.test")
        b.add_user("bob@b.test")
        entry = self.deferred_entry(a, b, self.marker("deleted"))
        a.ctl("queue", "del", str(entry["id"]))
        self.assertEqual(a.queue(), [])
        b.start()
        a.flush()
        time.sleep(3)  # the runner polls every second
        self.assertEqual(b.count("bob@b.test"), 0, "a deleted queue entry was delivered")
        self.assertEqual(a.count("alice@a.test"), 0, "a deleted queue entry was bounced")
        self.assertAlive(a, b)

    def test_many_messages_each_delivered_exactly_once(self):
        self.start_dns(self.b_records)
        a = self.host("a", "a.test", 2)
        b = self.host("b", "b.test", 3)
        a.add_user("alice@a.test")
        rcpts = [f"u{i}@b.test" for i in range(3)]
        for r in rcpts:
            b.add_user(r)
        subjects = [self.marker(f"bulk{i}") for i in range(25)]
        for s in subjects:
            a.submit("alice@a.test", rcpts, make_message("alice@a.test", rcpts[0], s))
        for r in rcpts:
            self.wait_count(b, r, len(subjects), timeout=60)
        self.wait_queue_empty(a)
        time.sleep(2.5)
        for r in rcpts:
            got = b.messages(r)
            self.assertEqual(len(got), len(subjects), r)
            for s in subjects:
                self.assertEqual(sum(s.encode() in m for m in got), 1, f"{s} in {r}")

    def test_one_recipient_deferred_the_other_delivered_once(self):
        ip4 = self.net.ip(4)
        server = self.scripted(4, name="mx.c.test", rcpt_script={
            "later@c.test": [(450, "4.2.1 Mailbox busy, try later")] * 2 + [(250, "2.1.5 Ok")],
        })
        a = self.host("a", "a.test", 2, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"},
                                               "retry": ["1s"]})
        a.add_user("alice@a.test")
        subject = self.marker("mixed")
        sent = make_message("alice@a.test", "now@c.test", subject)
        a.submit("alice@a.test", ["now@c.test", "later@c.test"], sent)

        self.wait_for(lambda: server.delivered_to("later@c.test"), "later@c.test accepted on a later attempt")
        self.wait_queue_empty(a)
        time.sleep(3)  # retry = 1s: any duplicate would come now
        txs = server.snapshot()
        now_ok = server.delivered_to("now@c.test")
        later_ok = server.delivered_to("later@c.test")
        self.assertEqual(len(now_ok), 1, f"now@c.test delivered {len(now_ok)} times:\n{server.log_tail(80)}")
        self.assertEqual(len(later_ok), 1, f"later@c.test delivered {len(later_ok)} times:\n{server.log_tail(80)}")
        self.assertEqual(server.rcpt_count("now@c.test"), 1,
                         f"now@c.test was offered again after it was accepted:\n{server.log_tail(80)}")
        self.assertEqual(server.rcpt_count("later@c.test"), 3, server.log_tail(80))
        # The first attempt offered both and got 250 for one, 450 for the other.
        self.assertIn(("later@c.test", 450), txs[0]["rcpts"], txs[0])
        # A later attempt: a later transaction (perhaps on the same connection,
        # which the relay keeps open a moment for more mail).
        self.assertLess(now_ok[0]["time"], later_ok[0]["time"],
                        "later@c.test was accepted in the first transaction already?")
        self.assertNotIn("later@c.test", [a for a, c in now_ok[0]["rcpts"] if 200 <= c < 300])
        for tx in now_ok + later_ok:
            self.assertTrue(tx["data"].endswith(sent))
            self.assertEqual(tx["sender"], "alice@a.test")
        self.assertEqual(a.count("alice@a.test"), 0, "a temporary failure produced a bounce")

    def test_retry_schedule_last_step_repeats(self):
        ip4 = self.net.ip(4)
        server = self.scripted(4, name="mx.c.test",
                               rcpt_script={"busy@c.test": [(451, "4.3.2 System busy")]})
        a = self.host("a", "a.test", 2, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"},
                                               "retry": ["1s", "6s"]})
        a.add_user("alice@a.test")
        a.submit("alice@a.test", ["busy@c.test"], make_message("alice@a.test", "busy@c.test", self.marker("busy")))
        self.wait_for(lambda: server.rcpt_count("busy@c.test") >= 4, "four attempts", timeout=40)
        times = [tx["time"] for tx in server.snapshot()][:4]
        gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
        # 1 s, then 6 s and 6 s again (the last step repeats); the runner
        # polls every second, so each gap may be up to ~1.5 s longer.
        self.assertLess(gaps[0], 4.5, f"first retry after {gaps}")
        self.assertGreaterEqual(gaps[1], 5.5, f"second retry after {gaps}")
        self.assertGreaterEqual(gaps[2], 5.5, f"third retry after {gaps}: the last step does not repeat")
        self.assertLess(max(gaps[1:]), 9.5, f"retries after {gaps}")
        self.assertEqual(a.count("alice@a.test"), 0, "a temporary failure produced a bounce")
        # The fourth attempt's outcome is recorded just after the server's 451.
        entry = self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 4), None),
                              "the fourth attempt recorded in the queue", timeout=5)
        self.assertEqual(pending(entry), ["busy@c.test"])
        self.assertIn("451", entry["recipients"][0]["diagnostic"], entry)

    def test_temporary_failure_after_data_is_retried(self):
        ip4 = self.net.ip(4)
        replies = iter([(451, "4.3.0 Try again later"), (250, "2.0.0 Ok: queued")])
        server = self.scripted(4, name="mx.c.test", data_reply=lambda tx: next(replies, (250, "2.0.0 Ok")))
        a = self.host("a", "a.test", 2, relay={"routes": {"c.test": f"{ip4}:{self.net.smtp_port}"},
                                               "retry": ["1s"]})
        a.add_user("alice@a.test")
        a.submit("alice@a.test", ["user@c.test"], make_message("alice@a.test", "user@c.test",
                                                               self.marker("data451")))
        self.wait_for(lambda: server.delivered_to("user@c.test"), "acceptance on the second attempt")
        self.wait_queue_empty(a)
        time.sleep(2.5)
        self.assertEqual(len(server.delivered_to("user@c.test")), 1)
        self.assertEqual(len([tx for tx in server.snapshot() if tx["reply"] is not None]), 2)

    def test_max_queue_time_bounces(self):
        # Nothing listens on .6: every attempt fails temporarily.
        ip6 = self.net.ip(6)
        a = self.host("a", "a.test", 2, relay={"routes": {"gone.test": f"{ip6}:{self.net.smtp_port}"},
                                               "retry": ["1s"], "max_queue_time": "3s"})
        a.add_user("alice@a.test")
        subject = self.marker("expired")
        a.submit("alice@a.test", ["user@gone.test"], make_message("alice@a.test", "user@gone.test", subject))
        self.wait_count(a, "alice@a.test", 1)
        self.wait_queue_empty(a)
        self.assertBounce(a.messages("alice@a.test")[0], a, "user@gone.test", status=r"[45]\.\d{1,3}\.\d{1,3}",
                          original_marker=subject)

    def test_delivery_metrics(self):
        self.start_dns(self.b_records)
        ip6 = self.net.ip(6)
        a = self.host("a", "a.test", 2, relay={"routes": {"gone.test": f"{ip6}:{self.net.smtp_port}"}})
        b = self.host("b", "b.test", 3)
        a.add_user("alice@a.test")
        b.add_user("bob@b.test")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("m1")))
        a.submit("alice@a.test", ["nobody@b.test"], make_message("alice@a.test", "nobody@b.test",
                                                                 self.marker("m2")))
        a.submit("alice@a.test", ["user@gone.test"], make_message("alice@a.test", "user@gone.test",
                                                                  self.marker("m3")))
        self.wait_count(b, "bob@b.test", 1)
        self.wait_count(a, "alice@a.test", 1)  # the bounce for nobody@b.test

        def value(text, name, **labels):
            total = 0.0
            for line in text.splitlines():
                m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
                if not m or m.group(1) != name:
                    continue
                have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
                if all(have.get(k) == v for k, v in labels.items()):
                    total += float(m.group(3))
            return total

        errors = []

        def counted():
            self.assertAlive(a)
            try:
                text = a.metrics_text()
            except OSError as e:
                errors.append(repr(e))
                return None
            return all(value(text, "aviary_delivery_attempts_total", result=r) >= 1
                       for r in ("delivered", "deferred", "bounced")) and text
        text = self.wait_for(counted, lambda: "delivered, deferred and bounced attempts in the metrics"
                             + (f" (metrics errors: {errors[-3:]})" if errors else ""))
        self.assertEqual(len(a.queue()), 1, "the deferred message is the only one queued")
        # The gauge may lag the queue by a poll or two, not more.
        text = self.wait_for(lambda: (lambda t: value(t, "aviary_queue_messages") == 1 and t)(a.metrics_text()),
                             "aviary_queue_messages to show the one queued message", timeout=5)
        self.assertGreater(value(text, "aviary_queue_oldest_age_seconds"), 0)
        self.assertGreaterEqual(value(text, "aviary_delivery_duration_seconds_count"), 2)


if __name__ == "__main__":
    unittest.main()
