"""test_throttle.py - AUTH failures on submission slow guessing down as
Dovecot does (issue 11, item 30), through the Authenticator POP3 uses too.

ThrottleTest: max_auth_failures = 10 is the ban threshold (per address and
hour): once an address has 10 failures, every AUTH from it gets 454 4.7.0,
even with the right password, on both submission listeners; 9 failures only
delay the right password, which then gets 235; other addresses are
unaffected. Turns and delays are set so that the parallel failures run at
once (max_concurrent_auth_per_ip = 20, auth_max_delay = 2s).

DelayTest: the daemon's default ban threshold (100): twelve failures from
one address are checked two at a time (max_concurrent_auth_per_ip = 2), and
then the right password still gets 235, after a delay no longer than
auth_max_delay.

Each attempt uses a fresh connection (so max_errors never closes one) from
a chosen loopback source address.
"""

import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from aviary_test.certificates import HOSTNAME
from aviary_test.metrics import metric
from aviary_test.ports import fresh_source
from aviary_test.sasl import b64
from aviary_test.smtp import SmtpClient
from aviary_test.submission_case import PASSWORDS, SubmissionTestCase, plain

MAX_FAILURES = 10
DELAY = 1.0  # auth_failure_delay of the harness
SLACK = 2.0  # scheduling noise on a loaded machine, seconds
NAME = "aviary_smtpd_auth_attempts_total"


class ThrottleTest(SubmissionTestCase):

    smtpd_options = {"max_auth_failures": MAX_FAILURES, "max_concurrent_auth_per_ip": 20, "auth_max_delay": "2s"}

    def attempt(self, source, user, secret, listener="submissions", mechanism="PLAIN"):
        """One AUTH on a new connection from source; returns the final reply."""
        if listener == "submissions":
            c = SmtpClient(self.daemon.submissions_port, source=source, greeting=False, timeout=30)
            try:
                c.handshake(self.tls_context(), server_hostname=HOSTNAME)
                c.greeting = c.reply()
                return self._auth(c, user, secret, mechanism)
            finally:
                c.close()
        c = SmtpClient(self.daemon.submission_port, source=source, timeout=30)
        try:
            self.assertReply(c.ehlo(), "250")
            c.starttls(self.tls_context())
            return self._auth(c, user, secret, mechanism)
        finally:
            c.close()

    def _auth(self, c, user, secret, mechanism):
        self.assertReply(c.ehlo(), "250")
        if mechanism == "PLAIN":
            return c.cmd(f"AUTH PLAIN {plain(user, secret)}")
        r = c.cmd("AUTH LOGIN " + b64(user))
        if r.code != 334:
            return r
        return c.cmd(b64(secret))

    def fail_many(self, source, n, user="alice@example.test"):
        """n wrong-password attempts from source at once; all must be 535."""
        with ThreadPoolExecutor(max_workers=n) as pool:
            replies = list(pool.map(lambda i: self.attempt(source, user, f"wrong-{i}"), range(n)))
        for r in replies:
            self.assertReply(r, "535", "5.7.8", what=f"failure below the limit from {source}")

    def test_throttled_after_max_failures(self):
        below, at = fresh_source(), fresh_source()
        before = self.daemon.metrics()
        errors = []

        def run(source, n):
            try:
                self.fail_many(source, n)
            except BaseException as e:  # reported below, from the main thread
                errors.append(e)
        threads = [threading.Thread(target=run, args=(below, MAX_FAILURES - 1)),
                   threading.Thread(target=run, args=(at, MAX_FAILURES))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertFalse(any(t.is_alive() for t in threads), "failed logins did not finish")
        if errors:
            raise errors[0]

        # One failure short of the limit: the right password still works
        # (after what is left of the delay, at most auth_max_delay).
        t0 = time.monotonic()
        self.assertReply(self.attempt(below, "alice@example.test", PASSWORDS["alice@example.test"]),
                         "235", "2.7.0", what=f"{MAX_FAILURES - 1} failures only")
        self.assertLess(time.monotonic() - t0, 2 + SLACK, "the delay is not capped by auth_max_delay")

        # At the limit: refused whatever the password, mechanism or listener.
        for listener in ("submissions", "submission"):
            for mechanism in ("PLAIN", "LOGIN"):
                r = self.attempt(at, "alice@example.test", PASSWORDS["alice@example.test"], listener, mechanism)
                self.assertReply(r, "454", "4.7.0", what=f"right password, {mechanism} on {listener}, throttled")
        r = self.attempt(at, "bob@example.test", PASSWORDS["bob@example.test"])
        self.assertReply(r, "454", "4.7.0", what="another user from the throttled address")
        r = self.attempt(at, "alice@example.test", "still-wrong")
        self.assertReply(r, "454", "4.7.0", what="wrong password from the throttled address")

        # Other addresses are not affected.
        r = self.attempt(fresh_source(), "alice@example.test", PASSWORDS["alice@example.test"], "submission")
        self.assertReply(r, "235", "2.7.0", what="an address without failures")

        after = self.daemon.metrics()
        delta = {k: metric(after, NAME, result=k) - metric(before, NAME, result=k)
                 for k in ("success", "failure", "throttled")}
        self.assertEqual(delta, {"success": 2, "failure": 2 * MAX_FAILURES - 1, "throttled": 6}, delta)

    def test_throttled_session_is_not_authenticated(self):
        source = fresh_source()
        self.fail_many(source, MAX_FAILURES, user="bob@example.test")
        c = self.session("submissions", source=source)
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('bob@example.test')}"), "454", "4.7.0")
        self.assertReply(c.cmd("MAIL FROM:<bob@example.test>"), "530", "5.7.0")
        # A throttled refusal is temporary: the session stays open.
        self.assertReply(c.cmd("NOOP"), "250")

    def test_throttling_is_logged(self):
        source = fresh_source()
        self.fail_many(source, MAX_FAILURES, user="carol@example.org")
        before = len(self.daemon.smtpd.log())
        self.assertReply(self.attempt(source, "carol@example.org", PASSWORDS["carol@example.org"]), "454")
        def logged():
            return any(source in line and "auth" in line.lower() for line in self.daemon.smtpd.log()[before:].splitlines())
        self.wait_for(logged, what=f"a log line about the throttled AUTH from [{source}]")
        self.assertNotIn(PASSWORDS["carol@example.org"], self.daemon.smtpd.log())


class DelayTest(SubmissionTestCase):
    """Default ban threshold; two logins of an address checked at a time."""

    TURNS = 2
    smtpd_options = {"max_auth_failures": 100, "max_concurrent_auth_per_ip": TURNS, "auth_max_delay": "2s"}

    def ready(self, source):
        c = SmtpClient(self.daemon.submissions_port, source=source, greeting=False, timeout=60)
        self.addCleanup(c.close)
        c.handshake(self.tls_context(), server_hostname=HOSTNAME)
        c.greeting = c.reply()
        self.assertReply(c.ehlo(), "250")
        return c

    def test_failures_delay_but_do_not_lock_out(self):
        source = fresh_source()
        n = 12
        clients = [self.ready(source) for _ in range(n)]
        barrier = threading.Barrier(n, timeout=60)
        results = [None] * n

        def run(i):
            try:
                barrier.wait()
                start = time.monotonic()
                r = clients[i].cmd(f"AUTH PLAIN {plain('bob@example.test', f'wrong-{i}')}")
                results[i] = (r, time.monotonic() - start)
            except BaseException as e:  # reported below
                results[i] = (e, None)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertFalse(any(t.is_alive() for t in threads), "failed logins did not finish")
        for r, _took in results:
            if isinstance(r, BaseException):
                raise r
            self.assertReply(r, "535", "5.7.8", what="a wrong password below the ban threshold")
        # Each failure holds its turn through its 1 s pause: two at a time,
        # the k-th answer (from 0) comes after at least (k // 2 + 1) s.
        took = sorted(t for _r, t in results)
        report = " ".join(f"{t:.2f}" for t in took)
        for k, t in enumerate(took):
            self.assertGreaterEqual(t, (k // self.TURNS + 1) * DELAY * 0.85,
                                    f"535 {k + 1} of {n} too early: more than {self.TURNS} AUTHs checked at once: {report}")
        # The right password after twelve failures: 235, after the delay.
        t0 = time.monotonic()
        r = self.attempt_right(source)
        self.assertReply(r, "235", "2.7.0", what="the right password after 12 failures from the address")
        self.assertLess(time.monotonic() - t0, 2 + SLACK, "the delay is not capped by auth_max_delay")

    def attempt_right(self, source):
        c = self.ready(source)
        return c.cmd(f"AUTH PLAIN {plain('bob@example.test', PASSWORDS['bob@example.test'])}")


if __name__ == "__main__":
    unittest.main()
