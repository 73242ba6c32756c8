"""test_limits.py - line lengths, the error limit, timeouts, connection limits.

RFC 5321 §4.5.3.1.4 (command line 512 octets), §4.5.3.1.6 (text line 1000
octets), §4.5.3.2 (timeouts, here shortened to 2s by configuration), and the
per-IP and total connection limits (421 4.7.0). Other loopback addresses
(127.0.0.2...) stand for other clients.
"""

import time
import unittest

from aviary_test.messages import message
from aviary_test.smtp import ConnectionClosed, SmtpClient
from aviary_test.smtpd_case import SmtpdTestCase


class LineLimitTest(SmtpdTestCase):

    def test_command_of_512_octets_accepted(self):
        c = self.client()
        line = "NOOP " + "x" * (512 - 2 - 5)
        self.assertEqual(len(line) + 2, 512)
        self.assertReply(c.cmd(line), "250")

    def test_command_of_513_octets_refused(self):
        c = self.client()
        line = "NOOP " + "x" * (513 - 2 - 5)
        self.assertReply(c.cmd(line), "500")
        self.assertReply(c.cmd("NOOP"), "250", "2.0.0", what="the session after the long line")

    def test_long_command_tail_is_not_a_command(self):
        """Whatever follows octet 512 is discarded with the line, never run."""
        before = self.daemon.count("bob@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<bob@example.test>"), "250")
        # Cut after 510 octets the first tail reads "RSET"; cut after 512 the
        # second one reads "DATA". Neither may run.
        self.assertReply(c.cmd("NOOP " + "x" * 505 + "RSET"), "500")
        self.assertReply(c.cmd("NOOP " + "y" * 507 + "DATA"), "500")
        self.assertReply(c.cmd("DATA"), "354", what="the transaction survived the long lines")
        c.send(message("after long lines") + b".\r\n")
        self.assertReply(c.reply(), "250")
        self.assertEqual(self.daemon.count("bob@example.test"), before + 1)

    def test_very_long_command(self):
        c = self.client()
        c.send(b"NOOP " + b"x" * 100000 + b"\r\n")
        r = c.reply()
        self.assertReply(r, "500|421")
        if r.code == 500:
            self.assertReply(c.cmd("NOOP"), "250")

    def test_text_line_of_1000_octets_accepted(self):
        before = self.daemon.count("alice@example.test")
        body = message("line 1000", body="w" * 998 + "\r\n")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], body), "250")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)
        self.assertTrue(self.daemon.messages("alice@example.test")[-1].endswith(body))

    def test_text_line_over_1000_octets_accepted(self):
        """Issue 11 item 17 (was: refused with 500): text lines of any length
        up to the message size are stored unchanged, with DATA and BDAT."""
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        sent = []
        for length in (999, 5000, 200000):
            body = message(f"line {length}", body="w" * length + "\r\nend\r\n")
            r = c.transaction("sender@remote.test", ["alice@example.test"], body)
            self.assertReply(r, "250", "2.0.0", what=f"a text line of {length + 2} octets")
            sent.append(body)
            body = message(f"bdat line {length}", body="b" * length + "\r\nend\r\n")
            r = c.bdat("sender@remote.test", ["alice@example.test"], [body[:100], body[100:]])
            self.assertReply(r, "250", "2.0.0", what=f"a BDAT text line of {length + 2} octets")
            sent.append(body)
        stored = self.daemon.messages("alice@example.test")[before:]
        self.assertEqual(len(stored), len(sent))
        for got, body in zip(stored, sent):
            self.assertTrue(got.endswith(body), "stored unchanged")


class ErrorLimitTest(SmtpdTestCase):
    """max_errors = 10: then 421 and the connection is closed."""

    def test_closed_after_ten_errors(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        errors = 0
        for _ in range(15):
            try:
                c.send("BOGUS\r\n")
                r = c.reply()
            except (ConnectionClosed, OSError) as e:
                self.fail(f"closed without 421 after {errors} errors: {e!r}")
            if r.code == 421:
                break
            self.assertReply(r, "5xx")
            errors += 1
        else:
            self.fail("still open after 15 errors")
        self.assertIn(errors, (9, 10), "421 must come with the 10th error or right after it")
        self.assertClosed(c)

    def test_mixed_errors_count(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        bad = ["BOGUS", "RCPT TO:<alice@example.test>", "MAIL FROM:bad", "DATA", "HELO",
               "MAIL FROM:<s@remote.test> FOO=1", "BOGUS", "RCPT TO:<x@elsewhere.test>", "BOGUS"]
        for i, cmd in enumerate(bad):
            self.assertReply(c.cmd(cmd), "5xx", what=f"error {i + 1}: {cmd}")
            self.assertReply(c.cmd("NOOP"), "250", what=f"NOOP after error {i + 1}")
        # Nine errors so far; successes in between do not forgive them.
        replies = []
        for _ in range(2):
            try:
                c.send("BOGUS\r\n")
                replies.append(c.reply().code)
            except (ConnectionClosed, OSError):
                break
            if replies[-1] == 421:
                break
        self.assertIn(421, replies, f"replies after the 10th error: {replies}")
        self.assertClosed(c)

    def test_nine_errors_keep_the_session(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        for _ in range(9):
            self.assertReply(c.cmd("BOGUS"), "500")
        self.assertReply(c.cmd("NOOP"), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")


class TimeoutTest(SmtpdTestCase):
    smtpd_options = {"command_timeout": "2s", "data_timeout": "2s"}

    def assertTimesOut(self, c, low=1.5, high=10.0):
        start = time.monotonic()
        try:
            r = c.reply(timeout=high)
        except (ConnectionClosed, OSError) as e:
            self.fail(f"no 421 before the close: {e!r}")
        elapsed = time.monotonic() - start
        self.assertReply(r, "421", "4.4.2")
        self.assertGreaterEqual(elapsed, low, "timed out too early")
        self.assertClosed(c, timeout=5)

    def test_idle_after_greeting(self):
        c = self.client()
        self.assertTimesOut(c)

    def test_idle_in_transaction(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        self.assertTimesOut(c)
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_idle_in_data(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: half\r\n\r\nhalf a body\r\n")
        self.assertTimesOut(c)
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_idle_in_bdat_chunk(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        c.send(b"BDAT 1000 LAST\r\nSubject: half\r\n\r\n")
        self.assertTimesOut(c)
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_slow_but_steady_client(self):
        """The timeout is per command, not per session: 4s of steady traffic is fine."""
        before = self.daemon.count("alice@example.test")
        c = self.client()
        for cmd, code in (("EHLO client.example.net", "250"), ("MAIL FROM:<sender@remote.test>", "250"),
                          ("RCPT TO:<alice@example.test>", "250"), ("DATA", "354")):
            time.sleep(1.0)
            self.assertReply(c.cmd(cmd), code)
        for line in (b"Subject: slow\r\n", b"\r\n", b"one\r\n", b"two\r\n"):
            time.sleep(1.0)
            c.send(line)
        c.send(b".\r\n")
        self.assertReply(c.reply(), "250")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)


class PerIpLimitTest(SmtpdTestCase):
    smtpd_options = {"max_connections_per_ip": 3}

    def test_fourth_connection_from_one_address(self):
        held = [self.client() for _ in range(3)]
        for c in held:
            self.assertReply(c.greeting, "220")
        fourth = self.client(greeting=False)
        self.assertReply(fourth.reply(), "421", "4.7.0")
        self.assertClosed(fourth)
        # Another address is not affected.
        other = self.client(source="127.0.0.2")
        self.assertReply(other.greeting, "220")
        self.assertReply(other.cmd("NOOP"), "250")
        # The held ones still work.
        self.assertReply(held[0].cmd("NOOP"), "250")
        # A slot frees when a session ends.
        held[0].cmd("QUIT")
        held[0].close()
        deadline = time.monotonic() + 10
        while True:
            c = SmtpClient(self.daemon.smtp_port)
            self.addCleanup(c.close)
            if c.greeting.code == 220 or time.monotonic() > deadline:
                break
            c.close()
            time.sleep(0.1)
        self.assertReply(c.greeting, "220", what="after one of three sessions ended")


class TotalLimitTest(SmtpdTestCase):
    smtpd_options = {"max_connections": 3}

    def test_connection_over_the_total(self):
        held = []
        deadline = time.monotonic() + 10
        for i in range(1, 4):
            while True:  # the readiness probe's session may still be ending
                c = SmtpClient(self.daemon.smtp_port, source=f"127.0.0.{i}")
                self.addCleanup(c.close)
                if c.greeting.code == 220 or time.monotonic() > deadline:
                    break
                c.close()
                time.sleep(0.1)
            self.assertReply(c.greeting, "220")
            held.append(c)
        over = SmtpClient(self.daemon.smtp_port, source="127.0.0.4", greeting=False)
        self.addCleanup(over.close)
        self.assertReply(over.reply(), "421", "4.7.0")
        self.assertClosed(over)
        for c in held:
            self.assertReply(c.cmd("NOOP"), "250")


if __name__ == "__main__":
    unittest.main()
