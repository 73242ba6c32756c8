"""test_protocol.py - RFC 1939 commands and states, RFC 2449 CAPA.

The greeting; STAT, LIST [n], UIDL [n], RETR, TOP, DELE, RSET, NOOP, QUIT
with their exact formats; the answers in the wrong state and for missing or
deleted message numbers; unknown commands; case-insensitive keywords;
pipelined commands; RETR and TOP send exactly the stored message, in CRLF
lines, dot-stuffed. Sessions log in over STLS (allow_plaintext_auth = false).
"""

import unittest

from aviary_test.messages import split_trace
from aviary_test.pop3 import unstuffed_equal_raw
from aviary_test.pop3_case import Pop3TestCase, TRICKY_BODY, pop3_message


class GreetingAndCapaTest(Pop3TestCase):

    def test_greeting(self):
        c = self.pop3()
        self.assertTrue(c.greeting.ok, repr(c.greeting))
        self.assertEqual(c.pending(), b"", "more than one greeting line")

    def test_capa_format_and_tags(self):
        c = self.pop3()
        r = c.cmd("CAPA")
        self.assertOk(r, "CAPA")
        lines, raw = c.multiline()
        self.assertTrue(raw.endswith(b".\r\n"))
        tags = {l.split()[0].decode().upper(): l[:-2].decode() for l in lines if l.split()}
        for wanted in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION"):
            self.assertIn(wanted, tags, f"CAPA lacks {wanted}: {lines!r}")
        self.assertIn("Aviary", tags["IMPLEMENTATION"])
        for line in lines:
            self.assertRegex(line.decode(), r"^[\x21-\x7e]+( [\x20-\x7e]*)?\r\n$", "a CAPA line")

    def test_capa_in_transaction_state(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        caps = c.capabilities()
        for wanted in ("TOP", "UIDL", "PIPELINING"):
            self.assertIn(wanted, caps)
        self.assertNotIn("STLS", caps, "STLS offered inside TLS")

    def test_quit_in_authorization_state(self):
        c = self.pop3()
        self.assertOk(c.cmd("QUIT"))
        self.assertClosed(c)


class StateTest(Pop3TestCase):
    """Commands in the wrong state (max_errors raised: errors are the point here)."""

    pop3d_options = {"max_errors": 100}

    TRANSACTION_COMMANDS = ("STAT", "LIST", "LIST 1", "UIDL", "UIDL 1", "RETR 1", "TOP 1 0",
                            "DELE 1", "RSET", "NOOP")

    def test_transaction_commands_before_login(self):
        user, pw, _ = self.mailbox_with(1)
        c = self.pop3()
        c.stls(self.host.tls_context())
        for line in self.TRANSACTION_COMMANDS:
            self.assertErr(c.cmd(line), what=f"{line} before login")
        self.assertOk(c.cmd("CAPA"))
        c.multiline()
        # and the session still works
        c.login(user, pw)
        self.assertEqual(c.stat()[0], 1)
        c.quit()
        self.assertEqual(len(self.host.messages(user)), 1, "a DELE before login deleted something")

    def test_transaction_commands_after_user_before_pass(self):
        user, pw, _ = self.mailbox_with(1)
        c = self.pop3()
        c.stls(self.host.tls_context())
        self.assertOk(c.cmd(f"USER {user}"))
        self.assertErr(c.cmd("STAT"), what="STAT between USER and PASS")
        self.assertErr(c.cmd("RETR 1"), what="RETR between USER and PASS")

    def test_pass_without_user(self):
        user, pw = self.new_user()
        c = self.pop3()
        c.stls(self.host.tls_context())
        self.assertErr(c.cmd(f"PASS {pw}"), what="PASS without USER")
        self.assertErr(c.cmd("STAT"), what="STAT after a PASS without USER")

    def test_authorization_commands_after_login(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        self.assertErr(c.cmd(f"USER {user}"), what="USER in TRANSACTION state")
        self.assertErr(c.cmd(f"PASS {pw}"), what="PASS in TRANSACTION state")
        self.assertErr(c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), what="AUTH in TRANSACTION state")
        self.assertErr(c.cmd("STLS"), what="STLS in TRANSACTION state")
        self.assertOk(c.cmd("NOOP"), "the session after the refused commands")

    def test_unknown_commands(self):
        user, pw = self.new_user()
        c = self.pop3()
        for line in ("XYZZY", "HELO there", "APOPX", "RETRX 1", "EHLO x", "STATS"):
            self.assertErr(c.cmd(line), what=line)
        c.stls(self.host.tls_context())
        c.login(user, pw)
        for line in ("XYZZY", "RETRX 1", "STATS", "LISTALL"):
            self.assertErr(c.cmd(line), what=line)
        self.assertOk(c.cmd("NOOP"))

    def test_empty_line(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        self.assertErr(c.cmd(""), what="an empty command line")
        self.assertOk(c.cmd("NOOP"))

    def test_keywords_are_case_insensitive(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.pop3()
        c.stls(self.host.tls_context())
        self.assertOk(c.cmd(f"user {user}"))
        self.assertOk(c.cmd(f"pAsS {pw}"))
        r = c.cmd("stat")
        self.assertOk(r)
        self.assertRegex(r.text, r"^2 \d+$")
        r = c.cmd("Retr 1")
        self.assertOk(r)
        lines, _ = c.multiline()
        self.assertTrue(b"".join(lines).endswith(datas[0]))
        self.assertOk(c.cmd("noop"))
        self.assertOk(c.cmd("dele 2"))
        self.assertOk(c.cmd("rset"))
        self.assertOk(c.cmd("quit"))
        self.assertClosed(c)
        self.assertEqual(len(self.host.messages(user)), 2)


class TransactionTest(Pop3TestCase):

    pop3d_options = {"max_errors": 100}

    def test_stat_list_uidl_formats(self):
        user, pw, datas = self.mailbox_with(3)
        stored = self.host.messages(user)
        c = self.session(user, pw)
        r = c.cmd("STAT")
        self.assertOk(r)
        self.assertRegex(r.text, r"^\d+ \d+$", "STAT is '+OK nn mm'")
        self.assertEqual(c.stat(), (3, sum(len(m) for m in stored)))
        sizes = c.list()
        self.assertEqual(sizes, {i + 1: len(m) for i, m in enumerate(stored)})
        for n in (1, 2, 3):
            r = c.cmd(f"LIST {n}")
            self.assertOk(r)
            self.assertRegex(r.text, rf"^{n} \d+")
            self.assertEqual(r.text.split()[:2], [str(n), str(len(stored[n - 1]))])
        uids = c.uidl()
        self.assertEqual(sorted(uids), [1, 2, 3])
        self.assertEqual(len(set(uids.values())), 3, f"UIDs not unique: {uids}")
        for n in (1, 2, 3):
            r = c.cmd(f"UIDL {n}")
            self.assertOk(r)
            self.assertEqual(r.text.split()[:2], [str(n), uids[n]])
        c.quit()

    def test_empty_maildrop(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        self.assertEqual(c.stat(), (0, 0))
        self.assertEqual(c.list(), {})
        self.assertEqual(c.uidl(), {})
        for line in ("RETR 1", "LIST 1", "UIDL 1", "TOP 1 0", "DELE 1"):
            self.assertErr(c.cmd(line), what=f"{line} in an empty maildrop")
        c.quit()

    def test_retr_is_the_stored_message(self):
        user, pw, datas = self.mailbox_with(2)
        stored = self.host.messages(user)
        c = self.session(user, pw)
        for n in (1, 2):
            data = c.retr(n)
            self.assertEqual(data, stored[n - 1], f"RETR {n} differs from the stored message")
            fields, rest = split_trace(data)
            self.assertEqual(rest, datas[n - 1], f"RETR {n} minus trace fields differs from what was sent")
            self.assertEqual([f[0].lower() for f in fields], ["return-path", "delivered-to", "received"])
        c.quit()

    def test_retr_dot_stuffing_and_crlf(self):
        user, pw = self.new_user()
        sent = pop3_message("tricky", body=TRICKY_BODY)
        self.host.deliver(user, sent)
        stored = self.host.messages(user)[0]
        c = self.session(user, pw)
        r = c.cmd("RETR 1")
        self.assertOk(r)
        self.assertRegex(r.text, rf"^{len(stored)} octets")
        lines, raw = c.multiline()
        self.assertEqual(raw, unstuffed_equal_raw(stored), "RETR is not the stored message, dot-stuffed")
        self.assertTrue(split_trace(b"".join(lines))[1] == sent)
        self.assertIn(b"\r\n..\r\n...\r\n..leading dot\r\n...two leading dots\r\n", raw)
        self.assertIn(b"\r\n.. \r\n", raw)
        self.assertEqual(c.pending(), b"", "bytes after the final '.'")
        self.assertOk(c.cmd("NOOP"), "the session after RETR")
        c.quit()

    def test_retr_deleted_and_missing(self):
        user, pw, _ = self.mailbox_with(2)
        c = self.session(user, pw)
        for line in ("RETR 0", "RETR 3", "RETR 99999999999999999999", "RETR -1", "RETR x", "RETR",
                     "LIST 0", "LIST 3", "LIST x", "UIDL 0", "UIDL 3", "TOP 3 0", "DELE 3", "DELE 0",
                     "TOP 1", "TOP 1 x", "TOP 1 -1", "TOP x 1"):
            self.assertErr(c.cmd(line), what=line)
        self.assertOk(c.cmd("DELE 1"))
        for line in ("RETR 1", "LIST 1", "UIDL 1", "TOP 1 0", "DELE 1"):
            self.assertErr(c.cmd(line), what=f"{line} of a deleted message")
        self.assertEqual(c.stat()[0], 1, "STAT counts a deleted message")
        self.assertEqual(list(c.list()), [2], "LIST shows a deleted message")
        self.assertEqual(list(c.uidl()), [2], "UIDL shows a deleted message")
        self.assertTrue(c.retr(2))
        c.quit()
        self.assertEqual(len(self.host.messages(user)), 1)

    def test_stat_after_dele(self):
        user, pw, _ = self.mailbox_with(3)
        stored = self.host.messages(user)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 2"))
        self.assertEqual(c.stat(), (2, len(stored[0]) + len(stored[2])),
                         "STAT must not count deleted messages")
        self.assertEqual(c.list(), {1: len(stored[0]), 3: len(stored[2])},
                         "LIST keeps the numbers and leaves out the deleted")
        c.quit()

    def test_rset_unmarks(self):
        user, pw, _ = self.mailbox_with(3)
        c = self.session(user, pw)
        before = c.stat()
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 3"))
        self.assertEqual(c.stat()[0], 1)
        r = c.cmd("RSET")
        self.assertOk(r)
        self.assertEqual(c.stat(), before)
        self.assertTrue(c.retr(1))
        c.quit()
        self.assertEqual(len(self.host.messages(user)), 3, "RSET did not unmark")

    def test_quit_applies_deletions(self):
        user, pw, datas = self.mailbox_with(4)
        stored = self.host.messages(user)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 3"))
        r = c.cmd("QUIT")
        self.assertOk(r, "QUIT")
        self.assertClosed(c)
        self.assertEqual(self.host.messages(user), [stored[1], stored[3]])
        stat = self.host.stat(user)
        self.assertEqual(stat["messages"], 2)
        self.assertEqual(stat["bytes"], len(stored[1]) + len(stored[3]))
        self.assertConsistent()
        c2 = self.session(user, pw)
        self.assertEqual(c2.stat(), (2, len(stored[1]) + len(stored[3])))
        self.assertEqual(c2.retr(1), stored[1])
        c2.quit()

    def test_noop(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        self.assertOk(c.cmd("NOOP"))
        self.assertEqual(c.pending(), b"")

    def test_top(self):
        user, pw = self.new_user()
        body = "".join(f"body line {i}\r\n" for i in range(1, 6)) + ".dotted\r\n"
        sent = pop3_message("top test", body=body)
        self.host.deliver(user, sent)
        stored = self.host.messages(user)[0]
        head, sep, rest = stored.partition(b"\r\n\r\n")
        self.assertTrue(sep)
        head += b"\r\n\r\n"
        body_lines = rest.split(b"\r\n")[:-1]
        c = self.session(user, pw)
        for k, expect_lines in ((0, 0), (2, 2), (5, 5), (6, 6), (100, 6)):
            r = c.cmd(f"TOP 1 {k}")
            self.assertOk(r, f"TOP 1 {k}")
            lines, raw = c.multiline()
            want = head + b"".join(l + b"\r\n" for l in body_lines[:expect_lines])
            self.assertEqual(b"".join(lines), want, f"TOP 1 {k}")
            self.assertEqual(raw, unstuffed_equal_raw(want), f"TOP 1 {k} on the wire")
        self.assertOk(c.cmd("NOOP"))
        c.quit()
        self.assertEqual(len(self.host.messages(user)), 1, "TOP deleted the message")

    def test_top_of_message_without_body(self):
        user, pw = self.new_user()
        sent = b"Subject: no body\r\nFrom: <a@remote.test>\r\n\r\n"
        self.host.deliver(user, sent)
        stored = self.host.messages(user)[0]
        c = self.session(user, pw)
        r, lines = c.cmd_multi("TOP 1 3")
        self.assertOk(r)
        self.assertEqual(b"".join(lines), stored)
        self.assertEqual(c.retr(1), stored)

    def test_pipelined_commands(self):
        user, pw, datas = self.mailbox_with(2)
        stored = self.host.messages(user)
        c = self.pop3()
        c.stls(self.host.tls_context())
        c.send(f"USER {user}\r\nPASS {pw}\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\n"
               "DELE 1\r\nLIST 1\r\nNOOP\r\nRSET\r\nSTAT\r\nQUIT\r\n")
        self.assertOk(c.response(), "USER")
        self.assertOk(c.response(), "PASS")
        r = c.response()
        self.assertOk(r, "STAT")
        self.assertEqual(r.text.split()[:2], ["2", str(sum(map(len, stored)))])
        self.assertOk(c.response(), "LIST")
        self.assertEqual(len(c.multiline()[0]), 2)
        self.assertOk(c.response(), "UIDL")
        self.assertEqual(len(c.multiline()[0]), 2)
        self.assertOk(c.response(), "RETR 1")
        self.assertEqual(b"".join(c.multiline()[0]), stored[0])
        self.assertOk(c.response(), "TOP 2 0")
        self.assertTrue(b"".join(c.multiline()[0]).endswith(b"\r\n\r\n"))
        self.assertOk(c.response(), "DELE 1")
        self.assertErr(c.response(), what="LIST 1 after DELE 1")
        self.assertOk(c.response(), "NOOP")
        self.assertOk(c.response(), "RSET")
        r = c.response()
        self.assertOk(r, "STAT")
        self.assertTrue(r.text.startswith("2 "))
        self.assertOk(c.response(), "QUIT")
        self.assertClosed(c)
        self.assertEqual(len(self.host.messages(user)), 2)

    def test_message_numbers_after_delete_in_earlier_session(self):
        """Numbers are 1..n of the new snapshot; UIDLs follow the messages."""
        user, pw, datas = self.mailbox_with(3)
        c = self.session(user, pw)
        uids = c.uidl()
        self.assertOk(c.cmd("DELE 1"))
        c.quit()
        c2 = self.session(user, pw)
        self.assertEqual(c2.uidl(), {1: uids[2], 2: uids[3]})
        self.assertEqual(split_trace(c2.retr(1))[1], datas[1])
        c2.quit()


if __name__ == "__main__":
    unittest.main()
