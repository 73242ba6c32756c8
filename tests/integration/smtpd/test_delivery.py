"""test_delivery.py - what aviary-smtpd stores, byte for byte.

A stored copy is Return-Path:, Delivered-To: and Received: prepended to the
exact bytes the client sent (after dot-unstuffing for DATA). Covers 8-bit,
binary (BDAT), SMTPUTF8, aliases, catch-all, plus addresses, deduplication,
quota and the size limit.
"""

import email.utils
import os
import re
import unittest

from aviary_test.messages import message, split_trace
from aviary_test.smtpd_case import SmtpdTestCase


def same_address(a, b):
    """Local parts byte-equal; domains equal in A-label form, any case (a
    U-label domain may be written as its A-labels)."""
    def split(x):
        local, _, domain = x.strip().strip("<>").rpartition("@")
        return local, domain.encode("idna").decode("ascii").lower() if domain else ""
    return split(a) == split(b)


class DeliveryTest(SmtpdTestCase):

    @classmethod
    def populate(cls, d):
        super().populate(d)
        d.add_user("quota@example.test", quota="8KiB")

    def assertStored(self, stored, sender, rcpt, body, esmtp=r"ESMTP", helo="client.example.net"):
        """stored = Return-Path + Delivered-To + Received + body (exactly)."""
        fields, rest = split_trace(stored)
        names = [f[0].lower() for f in fields]
        self.assertEqual(names, ["return-path", "delivered-to", "received"],
                         f"added header fields: {stored[:500]!r}")
        self.assertEqual(same_address(fields[0][1], f"<{sender}>"), True,
                         f"Return-Path: {fields[0][1]} for sender <{sender}>")
        if isinstance(rcpt, str):
            rcpt = (rcpt,)
        self.assertTrue(any(same_address(fields[1][1].lower(), r.lower()) for r in rcpt),
                        f"Delivered-To: {fields[1][1]}, expected one of {rcpt}")
        received = fields[2][1]
        self.assertRegex(received, r"^from \S*" + re.escape(helo))
        self.assertIn("127.0.0.1", received)
        self.assertRegex(received, r"\bby mail\.example\.test\b")
        self.assertRegex(received, r"\bwith " + esmtp + r"\b")
        date = received.rsplit(";", 1)
        self.assertEqual(len(date), 2, f"no '; date' in Received: {received}")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(date[1].strip()))
        self.assertEqual(rest, body, "the body differs from what was sent")

    def send(self, rcpts, body, sender="sender@remote.test", body_param=None):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        r = c.transaction(sender, rcpts, body, body_param)
        self.assertReply(r, "250", "2.0.0", "queued as")
        c.cmd("QUIT")
        return r

    def new_messages(self, address, before):
        stored = self.daemon.messages(address)
        self.assertEqual(len(stored), before + 1, f"messages of {address}")
        return stored[-1]

    def test_plain_message_exact(self):
        before = self.daemon.count("alice@example.test")
        body = message("exact", body=".leading dot\r\n..two dots\r\n.\r\nlast\r\n\r\n")
        self.send(["alice@example.test"], body)
        self.assertStored(self.new_messages("alice@example.test", before),
                          "sender@remote.test", "alice@example.test", body)

    def test_queue_id_is_logged(self):
        r = self.send(["alice@example.test"], message("logged"))
        queue_id = r.text.split("queued as", 1)[1].strip().split()[0].strip("<>")
        self.assertTrue(queue_id)
        self.wait_for(lambda: queue_id in self.daemon.smtpd.log(), "the queue id in the log", 5)
        line = next(l for l in self.daemon.smtpd.log().splitlines() if queue_id in l)
        self.assertIn("sender@remote.test", line)
        self.assertIn("alice@example.test", line)

    def test_null_sender(self):
        before = self.daemon.count("bob@example.test")
        body = message("null sender")
        self.send(["bob@example.test"], body, sender="")
        self.assertStored(self.new_messages("bob@example.test", before), "", "bob@example.test", body)

    def test_8bitmime(self):
        before = self.daemon.count("alice@example.test")
        eight = bytes(range(0x80, 0x100)) + b"\r\n" + "Grüße, café, ½ €\r\n".encode("utf-8")
        body = message("eight bit", body=eight,
                       extra=b"Content-Type: text/plain; charset=latin1\r\nContent-Transfer-Encoding: 8bit\r\n")
        self.send(["alice@example.test"], body, body_param="8BITMIME")
        self.assertStored(self.new_messages("alice@example.test", before),
                          "sender@remote.test", "alice@example.test", body)

    def test_binarymime_bdat(self):
        """NUL and every other octet except bare CR/LF; CRLF split across chunks;
        lines of a lone '.' are data in BDAT (no dot-stuffing)."""
        before = self.daemon.count("bob@example.test")
        octets = bytes(b for b in range(256) if b not in (10, 13))
        body = message("binary", body=b"\x00\x00NUL\r\n" + octets + b"\r\n.\r\n..\r\n" + octets * 20 + b"\r\n",
                       extra=b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n")
        cut1 = body.index(b"\r\n.\r\n") + 1          # a chunk ends between CR and LF
        cut2 = body.index(b"NUL") + 1
        chunks = [body[:cut2], body[cut2:cut1], body[cut1:cut1 + 100], body[cut1 + 100:]]
        self.assertEqual(b"".join(chunks), body)
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        # BODY=8BITMIME: BINARYMIME is not offered (issue 11 item 18), but BDAT
        # still carries these octets unchanged.
        self.assertReply(c.bdat("sender@remote.test", ["bob@example.test"], chunks, "8BITMIME"),
                         "250", "2.0.0")
        self.assertStored(self.new_messages("bob@example.test", before),
                          "sender@remote.test", "bob@example.test", body)

    def test_bdat_without_body_param(self):
        before = self.daemon.count("bob@example.test")
        body = message("bdat plain", body="a line\r\n.\r\nanother\r\n")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.bdat("sender@remote.test", ["bob@example.test"], [body[:7], body[7:], b""]),
                         "250", "2.0.0")
        self.assertStored(self.new_messages("bob@example.test", before),
                          "sender@remote.test", "bob@example.test", body)

    def test_bdat_bare_lf_rejected(self):
        before = self.daemon.count("bob@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        for bad in (b"Subject: bare lf\r\n\r\none\ntwo\r\n", b"Subject: bare cr\r\n\r\none\rtwo\r\n"):
            r = c.bdat("sender@remote.test", ["bob@example.test"], [bad[:20], bad[20:]], "8BITMIME")
            self.assertReply(r, "550", "5.6.0")
            self.assertReply(c.cmd("RSET"), "250")
        # A CR at the end of a non-last chunk followed by a chunk not starting with LF.
        r = c.bdat("sender@remote.test", ["bob@example.test"], [b"Subject: x\r\n\r\nab\r", b"cd\r\n"])
        self.assertReply(r, "550", "5.6.0")
        self.assertReply(c.cmd("NOOP"), "250")
        self.assertEqual(self.daemon.count("bob@example.test"), before)

    def test_smtputf8(self):
        before = self.daemon.count("δοκιμή@example.test")
        body = message("Καλημέρα κόσμε", body="Γειά σου.\r\n", sender="χρήστης@παράδειγμα.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<χρήστης@παράδειγμα.test> SMTPUTF8 BODY=8BITMIME"), "250")
        self.assertReply(c.cmd("RCPT TO:<δοκιμή@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(body + b".\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertStored(self.new_messages("δοκιμή@example.test", before),
                          "χρήστης@παράδειγμα.test", "δοκιμή@example.test", body,
                          esmtp=r"(UTF8SMTP|UTF8ESMTP|ESMTP)")

    def test_alias_to_two_users(self):
        before = {a: self.daemon.count(a) for a in ("alice@example.test", "bob@example.test")}
        body = message("alias fan-out")
        self.send(["team@example.test"], body)
        for address in before:
            self.assertStored(self.new_messages(address, before[address]), "sender@remote.test",
                              (address, "team@example.test"), body)

    def test_catch_all(self):
        before = self.daemon.count("carol@example.org")
        body = message("catch-all")
        self.send(["Whoever@CatchAll.test"], body)
        self.assertStored(self.new_messages("carol@example.org", before), "sender@remote.test",
                          ("carol@example.org", "whoever@catchall.test"), body)

    def test_plus_address(self):
        before = self.daemon.count("alice@example.test")
        body = message("plus")
        self.send(["alice+lists@example.test"], body)
        self.assertStored(self.new_messages("alice@example.test", before), "sender@remote.test",
                          ("alice@example.test", "alice+lists@example.test"), body)

    def test_recipients_deduplicated(self):
        before = {a: self.daemon.count(a) for a in ("alice@example.test", "bob@example.test")}
        body = message("dedup")
        self.send(["alice@example.test", "ALICE@example.test", "alice+x@example.test",
                   "team@example.test", "bob@example.test"], body)
        for address in before:
            self.new_messages(address, before[address])  # exactly one more

    def test_users_added_while_running(self):
        """aviaryctl changes are seen without a restart."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<late@example.test>"), "550", "5.1.1")
        self.daemon.add_user("late@example.test")
        self.daemon.add_domain("late.test")
        self.daemon.add_alias("@late.test", "late@example.test")
        self.assertReply(c.cmd("RCPT TO:<late@example.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<x@late.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(message("late") + b".\r\n")
        self.assertReply(c.reply(), "250")
        self.assertEqual(self.daemon.count("late@example.test"), 1)

    def test_quota(self):
        """Below quota: delivered; once over it: 552 5.2.2 at RCPT, nothing stored."""
        body = message("fills the quota", body="x" * 70 + "\r\n" * 1 + ("y" * 78 + "\r\n") * 60)
        self.send(["quota@example.test"], body)
        self.assertEqual(self.daemon.count("quota@example.test"), 1)
        self.daemon.ctl("user", "quota", "quota@example.test", "2KiB")
        stat = self.daemon.stat("quota@example.test")
        self.assertGreater(stat["bytes"], 2048)
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<quota@example.test>"), "552", "5.2.2")
        self.assertReply(c.cmd("RCPT TO:<quota+tag@example.test>"), "552", "5.2.2")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(message("quota partner") + b".\r\n")
        self.assertReply(c.reply(), "250")
        self.assertEqual(self.daemon.count("quota@example.test"), 1)
        self.daemon.ctl("user", "quota", "quota@example.test", "none")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<quota@example.test>"), "250")

    def test_quota_enforced_at_commit(self):
        """Issue 11 item 7: two sessions pass RCPT against the same usage; the
        message that crosses the quota lands, the next gets 552 5.2.2 at the
        end of DATA and is not stored. With another recipient that has room,
        the message is delivered there and the sender gets a bounce."""
        self.daemon.add_user("race1@example.test", quota="4KiB")
        self.daemon.add_user("race2@example.test", quota="4KiB")
        big = message("crosses the line", body=("b" * 78 + "\r\n") * 80)  # ~6.5 KB
        small = message("one too many")

        def ready(rcpts, sender="sender@remote.test"):
            c = self.client()
            self.assertReply(c.ehlo(), "250")
            self.assertReply(c.cmd(f"MAIL FROM:<{sender}>"), "250")
            for r in rcpts:
                self.assertReply(c.cmd(f"RCPT TO:<{r}>"), "250")
            self.assertReply(c.cmd("DATA"), "354")
            return c

        first, second = ready(["race1@example.test"]), ready(["race1@example.test"])
        first.send(big + b".\r\n")
        self.assertReply(first.reply(), "250", what="the message that crosses the quota")
        second.send(small + b".\r\n")
        self.assertReply(second.reply(), "552", "5.2.2", what="a message for a mailbox over quota")
        self.assertReply(second.cmd("NOOP"), "250")
        self.assertEqual(self.daemon.count("race1@example.test"), 1)
        self.assertGreater(self.daemon.stat("race1@example.test")["bytes"], 4096)

        # Mixed: race2 fills up while another session holds race2 and alice.
        alice_before = self.daemon.count("alice@example.test")
        bob_before = self.daemon.count("bob@example.test")
        filler = ready(["race2@example.test"])
        mixed = ready(["race2@example.test", "alice@example.test"], sender="bob@example.test")
        filler.send(big + b".\r\n")
        self.assertReply(filler.reply(), "250")
        mixed.send(small + b".\r\n")
        self.assertReply(mixed.reply(), "250", what="a message with one recipient that has room")
        self.assertEqual(self.daemon.count("race2@example.test"), 1)
        self.assertEqual(self.daemon.count("alice@example.test"), alice_before + 1)
        self.assertEqual(self.daemon.count("bob@example.test"), bob_before + 1, "no bounce for race2")
        bounce = self.daemon.messages("bob@example.test")[-1]
        self.assertIn(b"race2@example.test", bounce)
        self.assertIn(b"Status: 5.2.2", bounce)

    def test_body_over_max_size(self):
        """Read to its end, 552 5.3.4, nothing stored, the session stays in step."""
        before = self.daemon.count("alice@example.test")
        big = message("too big", body=("z" * 998 + "\r\n") * 1100)  # ~1.1 MB > 1MiB
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        r = c.transaction("sender@remote.test", ["alice@example.test"], big)
        self.assertReply(r, "552", "5.3.4")
        self.assertReply(c.cmd("NOOP"), "250", "2.0.0")
        self.assertEqual(self.daemon.count("alice@example.test"), before)
        # The same with BDAT, where the limit is crossed in the second chunk.
        r = c.bdat("sender@remote.test", ["alice@example.test"], [big[:600000], big[600000:]])
        self.assertReply(r, "552", "5.3.4")
        self.assertReply(c.cmd("NOOP"), "250", "2.0.0")
        self.assertEqual(self.daemon.count("alice@example.test"), before)

    def test_large_message_below_max(self):
        """~850 kB, below max_message_size: stored whole (the daemon may spill it to disk)."""
        before = self.daemon.count("alice@example.test")
        lines = b"".join(f"{i:08d} ".encode() + os.urandom(33).hex().encode() + b"\r\n" for i in range(11000))
        body = message("large", body=lines)
        self.assertLess(len(body), 1000000)
        self.send(["alice@example.test"], body)
        self.assertStored(self.new_messages("alice@example.test", before),
                          "sender@remote.test", "alice@example.test", body)

    def test_many_messages_one_session(self):
        before = self.daemon.count("bob@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        bodies = [message(f"session {i}") for i in range(5)]
        for body in bodies:
            self.assertReply(c.transaction("sender@remote.test", ["bob@example.test"], body), "250")
        stored = self.daemon.messages("bob@example.test")[before:]
        self.assertEqual([split_trace(s)[1] for s in stored], bodies)

    def test_stat_matches_store(self):
        """aviaryctl mailbox stat agrees with the stored messages."""
        self.send(["carol@example.org"], message("stat"))
        stored = self.daemon.messages("carol@example.org")
        stat = self.daemon.stat("carol@example.org")
        self.assertEqual(stat["messages"], len(stored))
        self.assertEqual(stat["bytes"], sum(len(m) for m in stored))


class StorageFullTest(SmtpdTestCase):
    """A store that cannot take the message: 452 4.3.1, nothing lost."""

    map_size = "1MiB"
    smtpd_options = {"max_message_size": "8MiB"}

    def test_storage_full(self):
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        small = message("small before", body="fits\r\n")
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], small), "250")
        huge = message("huge", body=("h" * 98 + "\r\n") * 20000)  # 2 MB > the 1MiB map
        r = c.transaction("sender@remote.test", ["alice@example.test"], huge)
        self.assertReply(r, "452", "4.3.1")
        self.assertReply(c.cmd("NOOP"), "250")
        after = message("small after", body="fits too\r\n")
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], after), "250")
        self.assertEqual([split_trace(m)[1] for m in self.daemon.messages("alice@example.test")],
                         [small, after])


if __name__ == "__main__":
    unittest.main()
