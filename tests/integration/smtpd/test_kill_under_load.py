"""test_kill_under_load.py - SIGKILL under 20 concurrent senders, 20 times (issue 11, fault test).

Each round: 20 SMTP clients send as fast as they can, each message to two
local mailboxes; after a random moment aviary-smtpd gets SIGKILL; it is
restarted. After every round the store must hold every message that got a
250 exactly once in both mailboxes, byte for byte; a message whose 250 the
kill cut off may be stored, but whole and in both mailboxes or in neither;
and the store's own bookkeeping (message counts, usage, blob reference
counts) must agree with what it holds.
"""

import os
import random
import threading
import time
import unittest

from aviary_test.messages import message, split_trace
from aviary_test.smtp import ConnectionClosed, SmtpClient
from aviary_test.smtpd_case import smtpd_daemon, standard_population

ROUNDS = 20
SENDERS = 20
RECIPIENTS = ("alice@example.test", "carol@example.org")


class KillUnderLoadTest(unittest.TestCase):

    def setUp(self):
        self.daemon = smtpd_daemon("kill-load", smtpd={"max_connections_per_ip": 100})
        self.addCleanup(self.daemon.cleanup)
        standard_population(self.daemon)
        self.daemon.start()
        self.store = self.daemon.store

    def load_round(self, round_, accepted, sent, rng):
        stop = threading.Event()
        lock = threading.Lock()

        def sender(n):
            try:
                c = SmtpClient(self.daemon.smtp_port, timeout=30)
                if c.ehlo().code != 250:
                    return
                for i in range(10000):
                    if stop.is_set():
                        return
                    marker = f"r{round_}-s{n}-m{i}"
                    body = message(marker, body="payload line\r\n" * rng.randint(1, 400))
                    with lock:
                        sent[marker] = body
                    if c.transaction("sender@remote.test", list(RECIPIENTS), body).code == 250:
                        with lock:
                            accepted.add(marker)
            except (ConnectionClosed, OSError, AssertionError):
                return  # the kill cuts every session

        threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(SENDERS)]
        for t in threads:
            t.start()
        before = len(accepted)
        deadline = time.monotonic() + 20
        # At least a few 250s in this round, then a random moment more.
        while len(accepted) < before + 5 and time.monotonic() < deadline and self.daemon.smtpd.alive():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        self.assertTrue(self.daemon.smtpd.alive(), f"aviary-smtpd died before the kill:\n{self.daemon.smtpd.log_tail()}")
        self.daemon.smtpd.kill()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreater(len(accepted), before, f"round {round_}: no message accepted before the kill")

    def stored_markers(self, address, sent):
        out = {}
        for m in self.daemon.messages(address):
            body = split_trace(m)[1]
            marker = body.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            self.assertNotIn(marker, out, f"{marker} stored twice in {address}")
            self.assertIn(marker, sent, f"{address} holds a message nobody sent")
            self.assertEqual(body, sent[marker], f"{marker} stored partially or altered in {address}")
            out[marker] = body
        return out

    def test_every_250_survives_exactly_once(self):
        rng = random.Random(int(os.environ.get("AVIARY_TEST_SEED", time.time_ns())))
        accepted, sent = set(), {}
        for round_ in range(ROUNDS):
            self.load_round(round_, accepted, sent, rng)
            self.daemon.start()
            boxes = [set(self.stored_markers(a, sent)) for a in RECIPIENTS]
            lost = sorted(accepted - boxes[0]) + sorted(accepted - boxes[1])
            self.assertEqual(lost, [], f"round {round_}: 250'd messages lost by SIGKILL")
            self.assertEqual(boxes[0], boxes[1], f"round {round_}: a message reached one recipient only")
            self.assertEqual(self.store.consistency_problems(), [], f"round {round_}")
        self.assertGreaterEqual(len(accepted), ROUNDS * 5)


if __name__ == "__main__":
    unittest.main()
