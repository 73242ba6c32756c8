"""test_deadlines.py - whole-session and DATA deadlines, stress timeouts
(issue 11, item 13).

The per-read timeouts (command_timeout, data_timeout) are re-armed by every
byte, so a client that sends one byte every few seconds could hold a session
slot for ever. smtpd.session_deadline ends any session, smtpd.data_deadline
any DATA body or BDAT chunk, with 421 4.4.2 (RFC 5321 §4.5.3.2 allows the
server to give up on a client; 421 says it is temporary). Near a pool's
connection limit, new reads get smtpd.stress_command_timeout (Postfix's stress
mode).
"""

import time
import unittest

from aviary_test.messages import message
from aviary_test.smtp import ConnectionClosed, SmtpClient
from aviary_test.smtpd_case import SmtpdTestCase


class DeadlineCase(SmtpdTestCase):

    def assertDeadline(self, c, dribble, low, high, start=None):
        """Calls dribble() every 0.5s until the daemon answers; asserts that
        the answer is 421 4.4.2 between low and high seconds after `start`
        (default: now), then that the connection is closed."""
        start = time.monotonic() if start is None else start
        reply = None
        for _ in range(int(high / 0.5) + 2):  # bounded: about `high` seconds
            try:
                dribble()
                reply = c.reply(timeout=0.5)
            except TimeoutError:
                continue
            except (ConnectionClosed, OSError) as e:
                self.fail(f"closed without 421 after {time.monotonic() - start:.1f}s: {e!r}")
            if reply.code == 421:
                break
            self.assertReply(reply, "250", what="a reply to what was dribbled")
            reply = None
        elapsed = time.monotonic() - start
        self.assertIsNotNone(reply, f"no reply within {high}s: the deadline was not enforced")
        self.assertReply(reply, "421", "4.4.2")
        self.assertGreaterEqual(elapsed, low, "ended before the deadline")
        self.assertLessEqual(elapsed, high, "ended long after the deadline")
        self.assertClosed(c, timeout=5)
        return elapsed


class SessionDeadlineTest(DeadlineCase):
    """session_deadline = 4s; command and data timeouts stay at minutes."""

    smtpd_options = {"session_deadline": "4s", "command_timeout": "5m", "data_timeout": "3m"}

    def test_one_byte_at_a_time(self):
        """A command dribbled one byte every 0.5s never times out a read,
        but the session ends at its deadline."""
        started = time.monotonic()
        c = self.client()
        noop = iter(b"NOOP\r\n" * 100)
        self.assertDeadline(c, lambda: c.send(bytes([next(noop)])), low=3.5, high=8.0, start=started)

    def test_busy_session_ends_too(self):
        """Commands that are all answered (NOOP, RSET) do not extend it."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        start = time.monotonic()
        replies = []
        for _ in range(40):  # bounded: 40 x 0.25s
            try:
                c.send("NOOP\r\n")
                r = c.reply(timeout=5)
            except (ConnectionClosed, OSError) as e:
                self.fail(f"closed without 421: {e!r}")
            replies.append(r.code)
            if r.code == 421:
                break
            time.sleep(0.25)
        self.assertEqual(replies[-1], 421, f"still open after {time.monotonic() - start:.1f}s: {replies}")
        self.assertReply(r, "421", "4.4.2")
        self.assertLess(time.monotonic() - start, 8.0)
        self.assertClosed(c)

    def test_slow_data_is_cut_at_the_session_deadline(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: slow\r\n\r\n")
        self.assertDeadline(c, lambda: c.send(b"x\r\n"), low=1.0, high=8.0)
        self.assertEqual(self.daemon.count("alice@example.test"), before, "the cut message was stored")

    def test_quick_session_is_not_affected(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], message("quick")), "250")
        self.assertReply(c.cmd("QUIT"), "221")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)


class DataDeadlineTest(DeadlineCase):
    """data_deadline = 3s; the session deadline is far away."""

    smtpd_options = {"data_deadline": "3s", "session_deadline": "5m", "command_timeout": "5m",
                     "data_timeout": "3m"}

    def start_transaction(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        return c

    def test_dribbled_data_is_cut(self):
        before = self.daemon.count("alice@example.test")
        c = self.start_transaction()
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: dribble\r\n\r\n")
        self.assertDeadline(c, lambda: c.send(b"x"), low=2.5, high=7.0)
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_dribbled_bdat_chunk_is_cut(self):
        before = self.daemon.count("alice@example.test")
        c = self.start_transaction()
        c.send(b"BDAT 100000 LAST\r\nSubject: dribble\r\n\r\n")
        self.assertDeadline(c, lambda: c.send(b"x"), low=2.5, high=7.0)
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_commands_after_data_have_no_data_deadline(self):
        """The DATA deadline ends with the DATA phase."""
        before = self.daemon.count("alice@example.test")
        c = self.start_transaction()
        self.assertReply(c.cmd("DATA"), "354")
        c.send(message("in time") + b".\r\n")
        self.assertReply(c.reply(), "250")
        time.sleep(3.5)
        self.assertReply(c.cmd("NOOP"), "250", what="a command after the DATA deadline's time")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)


class StressTimeoutTest(SmtpdTestCase):
    """max_connections = 5: from 4 sessions on (80%), new reads wait 2s at most."""

    smtpd_options = {"max_connections": 5, "stress_command_timeout": "2s", "command_timeout": "5m"}

    def connect(self, source):
        deadline = time.monotonic() + 10
        while True:  # the readiness probe's session may still be ending
            c = SmtpClient(self.daemon.smtp_port, source=source)
            self.addCleanup(c.close)
            if c.greeting.code == 220 or time.monotonic() > deadline:
                self.assertReply(c.greeting, "220")
                return c
            c.close()
            time.sleep(0.1)

    def test_idle_sessions_time_out_quickly_under_stress(self):
        clients = [self.connect(f"127.0.0.{i}") for i in range(1, 5)]
        # Each session's next read starts with 4 of 5 slots taken.
        for c in clients:
            self.assertReply(c.cmd("NOOP"), "250")
        start = time.monotonic()
        for i, c in enumerate(clients):
            try:
                r = c.reply(timeout=10)
            except (ConnectionClosed, OSError) as e:
                self.fail(f"client {i}: closed without 421: {e!r}")
            self.assertReply(r, "421", "4.4.2", what=f"client {i}")
            self.assertClosed(c, timeout=5)
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 8.0, "the stress timeout did not apply")

    def test_no_stress_below_80_percent(self):
        time.sleep(0.5)  # the readiness probe's session is gone
        clients = [self.connect(f"127.0.1.{i}") for i in range(1, 3)]
        for c in clients:
            self.assertReply(c.cmd("NOOP"), "250")
        time.sleep(3.0)
        for c in clients:
            self.assertReply(c.cmd("NOOP"), "250", what="an idle session with 2 of 5 slots taken")


if __name__ == "__main__":
    unittest.main()
