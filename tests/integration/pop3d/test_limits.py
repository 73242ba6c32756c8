"""test_limits.py - command line length (RFC 2449: 255 octets including the
CRLF), the error limit (max_errors), connection limits (total and per
client address). Other loopback addresses (127.0.x.y) stand for other
clients.
"""

import time
import unittest

from pop3_harness import ConnectionClosed, Pop3Client, Pop3TestCase


class LineLengthTest(Pop3TestCase):

    pop3d_options = {"allow_plaintext_auth": True, "max_errors": 100}

    def test_line_of_255_octets_accepted(self):
        line = "USER " + "a" * (255 - 2 - 5)
        self.assertEqual(len(line) + 2, 255)
        c = self.pop3()
        self.assertOk(c.cmd(line), "a 255-octet command line")

    def test_line_of_256_octets_refused(self):
        line = "USER " + "a" * (256 - 2 - 5)
        c = self.pop3()
        self.assertErr(c.cmd(line), what="a 256-octet command line")
        self.assertErr(c.cmd("PASS x"), what="PASS after a refused USER (the USER did not count)")
        self.assertOk(c.cmd("CAPA"), "the session after the long line")
        c.multiline()

    def test_tail_of_long_line_is_not_a_command(self):
        """Whatever follows octet 255 is discarded with its line, never run."""
        user, pw, datas = self.mailbox_with(1)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        for cut in range(250, 260):
            r = c.cmd("NOOP" + " " * (cut - 4) + "QUIT")
            self.assertErr(r, what=f"a long line with QUIT after octet {cut}")
            self.assertEqual(c.pending(), b"", f"more than one answer to the line cut at {cut}")
        self.assertOk(c.cmd("NOOP"), "the session survived the long lines")
        c.close()  # no QUIT: nothing may be deleted
        time.sleep(0.5)
        self.assertEqual(len(self.host.stored(user)), 1, "a QUIT hidden in a long line was run")

    def test_very_long_line(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        c.send(b"NOOP " + b"x" * 100000 + b"\r\n")
        r = c.response()
        self.assertErr(r, what="a 100000-octet line")
        self.assertOk(c.cmd("NOOP"), "the session after a 100000-octet line")
        self.assertEqual(c.pending(), b"")
        c.quit()

    def test_long_pipelined_batch_is_fine(self):
        """The limit is per line: many short pipelined lines are not 'too long'."""
        user, pw = self.new_user()
        c = self.session(user, pw)
        c.send("NOOP\r\n" * 200)
        for i in range(200):
            self.assertOk(c.response(), f"pipelined NOOP {i + 1}")
        c.quit()


class MaxErrorsTest(Pop3TestCase):
    """max_errors = 5."""

    pop3d_options = {"max_errors": 5, "allow_plaintext_auth": True}

    def test_closed_after_max_errors(self):
        c = self.pop3()
        for i in range(4):
            self.assertErr(c.cmd("XYZZY"), what=f"bad command {i + 1}")
        self.assertOk(c.cmd("CAPA"), "the session after max_errors - 1 bad commands")
        c.multiline()
        answers = 0
        try:
            for _ in range(2):
                r = c.cmd("XYZZY")
                self.assertErr(r, what="a bad command at the limit")
                answers += 1
        except (ConnectionClosed, OSError):
            pass
        self.assertGreaterEqual(answers, 1, "closed without an -ERR for the 5th bad command")
        self.assertClosed(c, 5, "still open after max_errors + 1 bad commands")

    def test_closed_after_max_errors_in_transaction(self):
        user, pw, datas = self.mailbox_with(1)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        try:
            for _ in range(6):
                self.assertErr(c.cmd("XYZZY"))
        except (ConnectionClosed, OSError):
            pass
        self.assertClosed(c, 5, "still open after max_errors + 1 bad commands")
        time.sleep(0.3)
        self.assertEqual(len(self.host.stored(user)), 1, "closing for errors applied a DELE")

    def test_errors_are_counted_per_connection(self):
        for i in range(3):
            c = self.pop3()
            for _ in range(4):
                self.assertErr(c.cmd("XYZZY"))
            self.assertOk(c.cmd("QUIT"))
            c.close()
        c = self.pop3()
        self.assertOk(c.cmd("CAPA"))


class ConnectionLimitTest(Pop3TestCase):
    """max_connections_per_ip = 3, max_connections = 6."""

    pop3d_options = {"max_connections_per_ip": 3, "max_connections": 6}

    def refused(self, source):
        """True if a new connection from source gets no +OK greeting."""
        try:
            c = Pop3Client(self.host.pop3_port, source=source, greeting=False, timeout=5)
        except OSError:
            return True
        self.addCleanup(c.close)
        try:
            r = c.response(timeout=5)
        except (ConnectionClosed, OSError):
            return True
        if r.ok:
            return False
        self.assertClosed(c, 5, "a refused connection was not closed")
        return True

    def open(self, source):
        c = Pop3Client(self.host.pop3_port, source=source)
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.ok, repr(c.greeting))
        return c

    def test_limits(self):
        a = [self.open("127.0.3.1") for _ in range(3)]
        self.assertTrue(self.refused("127.0.3.1"), "a 4th connection from one address was accepted")
        b = [self.open("127.0.3.2") for _ in range(3)]
        self.assertTrue(self.refused("127.0.3.3"), "a 7th connection in all was accepted")
        for c in a:
            self.assertOk(c.cmd("CAPA"))
            c.multiline()
        a[0].cmd("QUIT")
        a[0].close()
        deadline = time.monotonic() + 5
        while self.refused("127.0.3.1"):
            if time.monotonic() > deadline:
                self.fail("a slot freed by QUIT was not reusable")
            time.sleep(0.1)
        for c in a[1:] + b:
            c.close()


if __name__ == "__main__":
    unittest.main()
