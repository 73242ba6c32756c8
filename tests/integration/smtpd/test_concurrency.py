"""test_concurrency.py - 200 concurrent sessions, 20 messages each.

Every message carries a unique Subject marker. Each one answered 250 must be
stored exactly once in each mailbox it was addressed to (aliases expanded),
and nothing else may appear. Half of the sessions use DATA, half BDAT.
"""

import collections
import re
import threading
import time
import unittest

from aviary_test.messages import message, split_trace
from aviary_test.smtp import SmtpClient, expect
from aviary_test.smtpd_case import SmtpdTestCase

SESSIONS = 200
MESSAGES = 20
DEADLINE = 300.0  # seconds for the whole load

# recipient -> the mailboxes it reaches
ROUTES = {
    "alice@example.test": ("alice@example.test",),
    "bob@example.test": ("bob@example.test",),
    "carol@example.org": ("carol@example.org",),
    "team@example.test": ("alice@example.test", "bob@example.test"),
    "bob+tag@example.test": ("bob@example.test",),
    "x@catchall.test": ("carol@example.org",),
}
MAILBOXES = ("alice@example.test", "bob@example.test", "carol@example.org")
MARKER = re.compile(rb"^Subject: (conc-\d+-\d+)\r$", re.M)


class ConcurrencyTest(SmtpdTestCase):
    smtpd_options = {"max_connections": 300, "max_connections_per_ip": 250, "io_threads": 2}

    def session(self, n, accepted, failures, stop):
        rcpts = list(ROUTES)
        try:
            c = SmtpClient(self.daemon.smtp_port, timeout=120)
            try:
                expect(c.greeting, "220")
                expect(c.ehlo(f"load{n}.example.net"), "250")
                for i in range(MESSAGES):
                    if stop.is_set():
                        failures.append(f"session {n}: stopped at message {i}")
                        return
                    marker = f"conc-{n}-{i}"
                    targets = [rcpts[(n + i) % len(rcpts)]]
                    if i % 5 == 0:
                        targets.append(rcpts[(n + i + 1) % len(rcpts)])
                    body = message(marker, body=f"session {n} message {i}\r\n" * (1 + i % 7))
                    if n % 2:
                        r = c.bdat("sender@remote.test", targets, [body[:40], body[40:]])
                    else:
                        r = c.transaction("sender@remote.test", targets, body)
                    if r.code == 250:
                        accepted[marker] = (targets, body)
                    else:
                        failures.append(f"{marker}: {r!r}")
                expect(c.cmd("QUIT"), "221")
            finally:
                c.close()
        except Exception as e:  # reported by the main thread
            failures.append(f"session {n}: {e!r}")

    def test_200_sessions_20_messages(self):
        accepted, failures = {}, []
        stop = threading.Event()
        threads = [threading.Thread(target=self.session, args=(n, accepted, failures, stop), daemon=True)
                   for n in range(SESSIONS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, DEADLINE - (time.monotonic() - start)))
        if any(t.is_alive() for t in threads):
            stop.set()
            for t in threads:
                t.join(30)
            self.fail(f"load not done within {DEADLINE}s; {len(accepted)} accepted")
        elapsed = time.monotonic() - start
        print(f"\n{len(accepted)} messages in {elapsed:.1f}s ({len(accepted) / elapsed:.0f}/s)")

        # Whatever got 250 must be stored, however many failed.
        expected = collections.Counter()
        for marker, (targets, _body) in accepted.items():
            for mailbox in {m for t in targets for m in ROUTES[t]}:
                expected[(mailbox, marker)] += 1
        found = collections.Counter()
        bodies = {}
        for mailbox in MAILBOXES:
            for stored in self.daemon.messages(mailbox):
                m = MARKER.search(stored)
                if m:
                    marker = m.group(1).decode()
                    found[(mailbox, marker)] += 1
                    bodies[(mailbox, marker)] = split_trace(stored)[1]
        missing = [k for k in expected if found[k] == 0]
        doubled = [k for k, v in found.items() if v > 1]
        unexpected = [k for k in found if k not in expected]
        self.assertEqual(missing, [], f"{len(missing)} accepted copies not stored")
        self.assertEqual(doubled, [], f"{len(doubled)} copies stored twice")
        self.assertEqual(unexpected, [], f"{len(unexpected)} copies stored without a 250")
        for (mailbox, marker), body in bodies.items():
            self.assertEqual(body, accepted[marker][1], f"{marker} in {mailbox} differs")
        # The user records agree with the mailboxes.
        for mailbox in MAILBOXES:
            stat = self.daemon.stat(mailbox)
            self.assertEqual(stat["messages"], len(self.daemon.messages(mailbox)), mailbox)
        self.assertTrue(self.daemon.smtpd.alive(), f"aviary-smtpd died (exit {self.daemon.smtpd.proc.returncode})")
        self.assertEqual(failures, [], f"{len(failures)} failures, e.g. {failures[:5]}")
        self.assertEqual(len(accepted), SESSIONS * MESSAGES)


if __name__ == "__main__":
    unittest.main()
