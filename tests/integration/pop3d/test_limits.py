"""test_limits.py - command line length (RFC 2449: 255 octets including the
CRLF), the error limit (max_errors: unknown commands and syntax errors
only), connection limits (total and per
client address). Other loopback addresses (127.0.x.y) stand for other
clients.
"""

import time
import unittest

from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import Pop3TestCase
from aviary_test.smtp import ConnectionClosed


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
        self.assertEqual(len(self.host.messages(user)), 1, "a QUIT hidden in a long line was run")

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
        self.assertEqual(len(self.host.messages(user)), 1, "closing for errors applied a DELE")

    def test_errors_are_counted_per_connection(self):
        for i in range(3):
            c = self.pop3()
            for _ in range(4):
                self.assertErr(c.cmd("XYZZY"))
            self.assertOk(c.cmd("QUIT"))
            c.close()
        c = self.pop3()
        self.assertOk(c.cmd("CAPA"))


class BadCommandCountTest(Pop3TestCase):
    """Only unknown commands and syntax errors count toward max_errors (5
    here); a well-formed command answered -ERR does not (issue 11, item 32).
    Message numbers of any length are well formed."""

    pop3d_options = {"max_errors": 5, "allow_plaintext_auth": True}

    HUGE = "1" + "0" * 30  # past 2^64
    REFUSED = ("RETR 3", "LIST 0", "UIDL 3", "TOP 3 1", "DELE 2", "RETR 2", "TOP 2 0",
               "RETR 18446744073709551616", "LIST 18446744073709551617", "DELE " + HUGE,
               "TOP " + HUGE + " 1", "UIDL 99999999999999999999999999999999999999")

    def test_no_such_message_does_not_count(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 2"))
        for round in range(3):  # 36 refusals, far past max_errors
            for line in self.REFUSED:
                self.assertErr(c.cmd(line), what=f"{line} (round {round + 1})")
        self.assertOk(c.cmd("NOOP"), "the session after well-formed refused commands")
        self.assertGreater(len(c.retr(1)), 0)
        c.quit()

    def test_top_with_any_count(self):
        user, pw, datas = self.mailbox_with(1, body="one\r\ntwo\r\nthree\r\n")
        c = self.session(user, pw)
        whole = b"".join(self.top(c, "TOP 1 3"))
        for count in ("18446744073709551615", "18446744073709551616", self.HUGE, "4294967296", "00000000000000000003"):
            self.assertEqual(b"".join(self.top(c, f"TOP 1 {count}")), whole, f"TOP 1 {count}")
        head = b"".join(self.top(c, "TOP 1 0"))
        self.assertTrue(whole.startswith(head) and head.endswith(b"\r\n\r\n"), "TOP 1 0: the headers")
        self.assertOk(c.cmd("NOOP"))
        c.quit()

    def top(self, c, line):
        r, lines = c.cmd_multi(line)
        self.assertOk(r, line)
        return lines

    def test_refusals_in_authorization_do_not_count(self):
        """Policy refusals and failed logins are not bad commands either."""
        user, pw = self.new_user()
        c = self.pop3()
        for _ in range(6):
            self.assertErr(c.cmd("PASS x"), what="PASS without USER")
            self.assertErr(c.cmd("AUTH XYZZY"), what="an unsupported mechanism")
        self.assertErr(c.user_pass(user, "wrong"), "AUTH")
        self.assertOk(c.user_pass(user, pw), "login after 13 refused well-formed commands")
        c.quit()

    def test_syntax_errors_count(self):
        user, pw, datas = self.mailbox_with(1)
        c = self.session(user, pw)
        for line in ("RETR abc", "TOP 1", "TOP 1 -1", "LIST 1x", "DELE -1"):
            self.assertErr(c.cmd(line), what=f"{line}: a syntax error")
        self.assertClosed(c, 5, "still open after max_errors syntax errors")


class DefaultMaxErrorsTest(Pop3TestCase):
    """No max_errors in the configuration: the default is 20, as Dovecot."""

    pop3d_options = {"allow_plaintext_auth": True}

    @classmethod
    def populate(cls, h):
        super().populate(h)
        h.pop3d_options.pop("max_errors", None)
        h.write_config(h.config)

    def test_closed_after_twenty_unknown_commands(self):
        c = self.pop3()
        for i in range(19):
            self.assertErr(c.cmd("XYZZY"), what=f"unknown command {i + 1}")
        self.assertOk(c.cmd("CAPA"), "the session after 19 unknown commands")
        c.multiline()
        self.assertErr(c.cmd("XYZZY"), what="the 20th unknown command is answered")
        self.assertClosed(c, 5, "still open after 20 unknown commands")


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
