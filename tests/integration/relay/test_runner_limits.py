"""test_runner_limits.py - who runs the queue, and how many connections.

Two aviary-smtpd processes on one store: exactly one runs the queue (the
other says nothing of it), every message is delivered once, and when the
runner is killed the other one takes over. Messages waiting for one next
hop share connections: with relay.connections_per_destination = 2, twelve
queued messages reach the destination over at most two connections, one
transaction after another on each.
"""

import re
import signal
import time
import copy
import unittest

from aviary_test.messages import make_message
from aviary_test.ports import free_port
from aviary_test.processes import Proc
from aviary_test.programs import program
from aviary_test.relay_case import RelayTestCase

RUNS_QUEUE = "this process runs the queue"


class RunnerLimitsTest(RelayTestCase):

    def second_smtpd(self, first):
        """Another aviary-smtpd on `first`'s store and address, with ports of its own."""
        twin = copy.copy(first)
        twin.name = first.name + "-twin"
        twin.smtp_port = free_port([twin.ip])
        twin.submission_port = free_port([twin.ip])
        twin.smtpd_metrics_port = free_port([twin.ip])
        twin.config = first.dir / "twin.toml"
        twin.write_config()
        twin.smtpd = Proc(f"aviary-smtpd {twin.name}", [program("aviary-smtpd"), "-c", twin.config],
                          first.dir / "twin-smtpd.log")
        twin.start()
        self.addCleanup(twin.smtpd.stop)
        self._parts.append(twin)
        return twin

    def test_one_runner_per_store_and_takeover(self):
        mx = self.scripted(4)
        a = self.host("a", "a.test", 2, relay={"routes": {"b.test": f"{self.net.ip(4)}:{self.net.smtp_port}"},
                                                "retry": ["1s"]})
        a.add_user("alice@a.test")
        twin = self.second_smtpd(a)
        time.sleep(2)  # both have polled the queue lock a few times
        runners = [h for h in (a, twin) if RUNS_QUEUE in h.smtpd.log()]
        self.assertEqual(len(runners), 1, "exactly one process runs the queue\n" + self.logs())

        # Mail submitted through either process is delivered once.
        subjects = [self.marker(f"twin-{i}") for i in range(10)]
        for i, subject in enumerate(subjects):
            via = a if i % 2 == 0 else twin
            via.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", subject))
        self.wait_for(lambda: len(mx.delivered_to("bob@b.test")) >= 10, "ten deliveries")
        time.sleep(1.5)
        data = [tx["data"] for tx in mx.delivered_to("bob@b.test")]
        for subject in subjects:
            self.assertEqual(sum(subject.encode() in d for d in data), 1, f"{subject} not delivered exactly once")
        self.assertEqual(a.queue(), [])

        # The runner dies; the other process takes the queue over.
        runner = runners[0]
        other = twin if runner is a else a
        runner.smtpd.proc.send_signal(signal.SIGKILL)
        runner.smtpd.proc.wait(timeout=10)
        self.wait_for(lambda: RUNS_QUEUE in other.smtpd.log(), "the other process to take the queue over")
        last = self.marker("after-takeover")
        other.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", last))
        self.wait_for(lambda: any(last.encode() in tx["data"] for tx in mx.delivered_to("bob@b.test")),
                      "delivery by the process that took over")
        # Back again (the harness expects its processes alive at the end).
        runner.start()

    def test_messages_for_one_destination_share_few_connections(self):
        a = self.host("a", "a.test", 2, relay={"routes": {"b.test": f"{self.net.ip(4)}:{self.net.smtp_port}"},
                                                "connections_per_destination": 2})
        a.add_user("alice@a.test")
        subjects = [self.marker(f"shared-{i}") for i in range(12)]
        for subject in subjects:  # the destination is down: all twelve wait
            a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", subject))
        self.wait_for(lambda: len(a.queue()) == 12 and all(e["attempts"] >= 1 for e in a.queue()),
                      "twelve deferred entries")
        mx = self.scripted(4)
        a.flush()
        self.wait_for(lambda: len(mx.delivered_to("bob@b.test")) >= 12, "twelve deliveries after the flush")
        self.wait_queue_empty(a)
        self.assertLessEqual(mx.sessions, 2, "relay.connections_per_destination = 2 was exceeded")
        transactions = mx.snapshot()
        self.assertEqual(len(transactions), 12)
        self.assertLess(len({tx["session"] for tx in transactions}), 12, "no connection carried two messages")
        self.assertRegex(a.smtpd.log(), re.compile(r"status=delivered"))


if __name__ == "__main__":
    unittest.main()
