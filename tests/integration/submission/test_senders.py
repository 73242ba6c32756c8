"""test_senders.py - who an authenticated user may send as (RFC 6409 §6.1).

MAIL FROM must be the user's own address, a +tag of it, or an alias that
resolves to the user (a catch-all does not count); anything else, and the null sender, is 553 5.7.1.
One table, one subTest per row, each on its own authenticated session.
"""

import unittest

from aviary_test.submission_case import SubmissionTestCase

# (label, user, MAIL FROM argument, accepted)
CASES = [
    ("own address", "alice@example.test", "<alice@example.test>", True),
    ("own address, other case", "alice@example.test", "<Alice@EXAMPLE.test>", True),
    ("plus tag", "alice@example.test", "<alice+x@example.test>", True),
    ("plus tag with dots", "alice@example.test", "<alice+lists.news@example.test>", True),
    ("alias to the user", "alice@example.test", "<sales@example.test>", True),
    ("AUTH= parameter (RFC 4954 §5)", "alice@example.test", "<alice@example.test> AUTH=<>", True),
    ("SIZE parameter", "alice@example.test", "<alice@example.test> SIZE=1000", True),
    ("own address, other domain", "carol@example.org", "<carol@example.org>", True),
    ("non-ASCII own address", "δοκιμή@example.test", "<δοκιμή@example.test> SMTPUTF8", True),
    ("another user", "alice@example.test", "<bob@example.test>", False),
    ("another user's plus tag", "alice@example.test", "<bob+alice@example.test>", False),
    ("alias to another user", "alice@example.test", "<bobalias@example.test>", False),
    ("same local part, other hosted domain", "alice@example.test", "<alice@example.org>", False),
    ("same local part, remote domain", "alice@example.test", "<alice@remote.test>", False),
    ("remote address", "alice@example.test", "<someone@remote.test>", False),
    ("unknown user of the domain", "alice@example.test", "<nobody@example.test>", False),
    ("prefix of the user", "alice@example.test", "<alic@example.test>", False),
    ("user as a prefix", "alice@example.test", "<alicex@example.test>", False),
    ("plus tag on another domain", "alice@example.test", "<alice+x@example.org>", False),
    ("user's tag of another user", "alice@example.test", "<x+alice@example.test>", False),
    ("catch-all of another user", "alice@example.test", "<anything@catchall.test>", False),
    # Issue 11 item 19: a catch-all makes any address deliver to the user,
    # but the user does not own them.
    ("catch-all of the user", "carol@example.org", "<ceo@catchall.test>", False),
    ("plus tag under the user's catch-all", "carol@example.org", "<ceo+x@catchall.test>", False),
    ("null sender", "alice@example.test", "<>", False),
    ("null sender, other user", "bob@example.test", "<>", False),
    ("the other way round", "bob@example.test", "<alice@example.test>", False),
    ("alias of alice for bob", "bob@example.test", "<sales@example.test>", False),
]


class SenderTest(SubmissionTestCase):

    def test_sender_table(self):
        for i, (label, user, sender, accepted) in enumerate(CASES):
            with self.subTest(label, user=user, sender=sender):
                c = self.session("submissions" if i % 2 else "submission", user=user)
                r = c.cmd(f"MAIL FROM:{sender}")
                if accepted:
                    self.assertReply(r, "250", "2.1.0", what=f"{user} sending as {sender}")
                    self.assertReply(c.cmd("RCPT TO:<carol@example.org>"), "250")
                else:
                    self.assertReply(r, "553", "5.7.1", what=f"{user} sending as {sender}")
                    # Refused, not broken: no transaction, and the user's own
                    # address still works.
                    self.assertReply(c.cmd("RCPT TO:<carol@example.org>"), "503", "5.5.1")
                    own = "<δοκιμή@example.test> SMTPUTF8" if user.startswith("δ") else f"<{user}>"
                    self.assertReply(c.cmd(f"MAIL FROM:{own}"), "250")
                self.assertReply(c.cmd("QUIT"), "221")

    def test_alias_added_while_running(self):
        # SPEC.md: what aviaryctl changes is visible without a restart.
        c = self.session("submission", user="carol@example.org")
        self.assertReply(c.cmd("MAIL FROM:<billing@example.org>"), "553", "5.7.1")
        self.daemon.add_alias("billing@example.org", "carol@example.org")
        c = self.session("submission", user="carol@example.org")
        self.assertReply(c.cmd("MAIL FROM:<billing@example.org>"), "250", "2.1.0")
        self.assertReply(c.cmd("RCPT TO:<bob@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: from an alias\r\n\r\nHi.\r\n.\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        stored = self.daemon.store.mailbox("bob@example.test")[-1]["data"]
        self.assertTrue(stored.startswith(b"Return-Path: <billing@example.org>\r\n"), stored[:200])
        # and removed again: refused again.
        self.daemon.ctl("alias", "del", "billing@example.org")
        c = self.session("submission", user="carol@example.org")
        self.assertReply(c.cmd("MAIL FROM:<billing@example.org>"), "553", "5.7.1")

    def test_sender_checked_per_transaction(self):
        c = self.session("submission", user="alice@example.test")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
        self.assertReply(c.cmd("RSET"), "250")
        self.assertReply(c.cmd("MAIL FROM:<bob@example.test>"), "553", "5.7.1")
        self.assertReply(c.cmd("MAIL FROM:<sales@example.test>"), "250")


if __name__ == "__main__":
    unittest.main()
