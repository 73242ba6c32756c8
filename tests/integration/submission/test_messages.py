"""test_messages.py - what happens to a submitted message.

RFC 6409 §8: Message-ID: and Date: are added when missing and kept when
present; the Received: header says ESMTPSA (RFC 3848). Recipients in any
domain are accepted: hosted ones get a mailbox copy, the others one entry in
the outbound queue, all in the same commit - the queue entry references the
very blob the mailbox records reference, and no reader ever sees one without
the other.
"""

import email.utils
import re
import threading
import time
import unittest
from datetime import datetime, timezone

from aviary_test.messages import field_values, split_trace
from aviary_test.smtp import dot_stuff
from aviary_test.submission_case import SubmissionTestCase

MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def queued_id(reply):
    m = re.search(r"queued as (\S+)", reply.text)
    return m.group(1) if m else None


def same_address(a, b):
    """Local parts compared exactly, domains without regard to case."""
    la, _, da = a.rpartition("@")
    lb, _, db = b.rpartition("@")
    return la == lb and da.lower() == db.lower()


class MessageTest(SubmissionTestCase):

    def submit(self, rcpts, data, user="alice@example.test", sender=None, listener="submission", bdat=False):
        """Sends one message as user; returns the final reply (asserted 250)."""
        c = self.session(listener, user=user)
        self.assertReply(c.cmd(f"MAIL FROM:<{sender or user}>"), "250")
        for rcpt in rcpts:
            self.assertReply(c.cmd(f"RCPT TO:<{rcpt}>"), "250", what=f"RCPT {rcpt}")
        if bdat:
            c.send(f"BDAT {len(data)} LAST\r\n".encode() + data)
            r = c.reply()
        else:
            self.assertReply(c.cmd("DATA"), "354")
            c.send(dot_stuff(data) + b".\r\n")
            r = c.reply()
        self.assertReply(r, "250", "2.0.0", what="end of data")
        self.assertReply(c.cmd("QUIT"), "221")
        return r

    def new_copy(self, address, data_marker):
        """The one stored copy in address's mailbox whose data has data_marker."""
        found = [m for m in self.daemon.store.mailbox(address) if data_marker in m["data"]]
        self.assertEqual(len(found), 1, f"copies of {data_marker!r} in {address}")
        return found[0]

    def new_queue_entries(self, before_ids):
        return [e for e in self.daemon.store.queue() if e["id"] not in before_ids]

    def queue_ids(self):
        return {e["id"] for e in self.daemon.store.queue()}

    # -- Message-ID and Date ------------------------------------------------------

    def test_message_id_and_date_added_when_missing(self):
        data = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: no id no date\r\n\r\nbody-1\r\n"
        r1 = self.submit(["bob@example.test"], data)
        r2 = self.submit(["bob@example.test"], data.replace(b"body-1", b"body-2"))
        ids = []
        for marker, reply in ((b"body-1", r1), (b"body-2", r2)):
            stored = self.new_copy("bob@example.test", marker)["data"]
            msg_ids = field_values(stored, "Message-ID")
            dates = field_values(stored, "Date")
            self.assertEqual(len(msg_ids), 1, f"Message-ID fields:\n{stored.decode(errors='replace')}")
            self.assertEqual(len(dates), 1, f"Date fields:\n{stored.decode(errors='replace')}")
            self.assertRegex(msg_ids[0], MESSAGE_ID)
            when = email.utils.parsedate_to_datetime(dates[0])
            self.assertIsNotNone(when.tzinfo, dates[0])
            self.assertLess(abs((when - datetime.now(timezone.utc)).total_seconds()), 300, dates[0])
            # The client's own text follows unchanged.
            self.assertIn(data.replace(b"body-1", marker), stored)
            ids.append(msg_ids[0])
        self.assertNotEqual(ids[0], ids[1], "two messages got the same Message-ID")

    def test_message_id_and_date_kept_when_present(self):
        data = (b"Date: Tue, 01 Jan 2030 10:00:00 +0100\r\nMessage-ID: <keep.me.1@client.example>\r\n"
                b"Subject: has both\r\n\r\nkept-both\r\n")
        self.submit(["bob@example.test"], data)
        stored = self.new_copy("bob@example.test", b"kept-both")["data"]
        self.assertEqual(field_values(stored, "Message-ID"), ["<keep.me.1@client.example>"])
        self.assertEqual(field_values(stored, "Date"), ["Tue, 01 Jan 2030 10:00:00 +0100"])
        self.assertTrue(stored.endswith(data), stored)

    def test_field_names_are_case_insensitive(self):
        data = (b"date: Tue, 01 Jan 2030 10:00:00 +0100\r\nmessage-id: <keep.me.2@client.example>\r\n"
                b"Subject: lower case names\r\n\r\nkept-lower\r\n")
        self.submit(["bob@example.test"], data)
        stored = self.new_copy("bob@example.test", b"kept-lower")["data"]
        self.assertEqual(field_values(stored, "Message-ID"), ["<keep.me.2@client.example>"], stored)
        self.assertEqual(field_values(stored, "Date"), ["Tue, 01 Jan 2030 10:00:00 +0100"], stored)

    def test_only_the_missing_one_is_added(self):
        with_id = b"Message-ID: <only.id@client.example>\r\nSubject: id only\r\n\r\nonly-id\r\n"
        with_date = b"Date: Tue, 01 Jan 2030 10:00:00 +0100\r\nSubject: date only\r\n\r\nonly-date\r\n"
        self.submit(["bob@example.test"], with_id, listener="submissions")
        self.submit(["bob@example.test"], with_date, listener="submissions")
        stored = self.new_copy("bob@example.test", b"only-id")["data"]
        self.assertEqual(field_values(stored, "Message-ID"), ["<only.id@client.example>"])
        self.assertEqual(len(field_values(stored, "Date")), 1, stored)
        stored = self.new_copy("bob@example.test", b"only-date")["data"]
        self.assertEqual(field_values(stored, "Date"), ["Tue, 01 Jan 2030 10:00:00 +0100"])
        self.assertEqual(len(field_values(stored, "Message-ID")), 1, stored)
        self.assertRegex(field_values(stored, "Message-ID")[0], MESSAGE_ID)

    def test_fields_in_the_body_do_not_count(self):
        data = (b"Subject: fields in body\r\n\r\nMessage-ID: <in.body@client.example>\r\n"
                b"Date: Tue, 01 Jan 2030 10:00:00 +0100\r\nbody-fields\r\n")
        self.submit(["bob@example.test"], data)
        stored = self.new_copy("bob@example.test", b"body-fields")["data"]
        self.assertEqual(len(field_values(stored, "Message-ID")), 1, stored)
        self.assertNotEqual(field_values(stored, "Message-ID"), ["<in.body@client.example>"])
        self.assertEqual(len(field_values(stored, "Date")), 1, stored)
        self.assertTrue(stored.endswith(data), "the body changed")

    def test_bdat_gets_the_fields_too(self):
        data = b"Subject: by bdat\r\n\r\nbdat-body\r\n"
        self.submit(["bob@example.test"], data, bdat=True)
        stored = self.new_copy("bob@example.test", b"bdat-body")["data"]
        self.assertEqual(len(field_values(stored, "Message-ID")), 1, stored)
        self.assertEqual(len(field_values(stored, "Date")), 1, stored)

    # -- the trace header ---------------------------------------------------------

    def test_received_says_esmtpsa(self):
        for listener in ("submission", "submissions"):
            with self.subTest(listener=listener):
                marker = f"trace-{listener}".encode()
                self.submit(["carol@example.org"], b"Subject: trace\r\n\r\n" + marker + b"\r\n", listener=listener)
                stored = self.new_copy("carol@example.org", marker)["data"]
                fields, _rest = split_trace(stored)
                names = [n.lower() for n, _v in fields]
                self.assertEqual(names, ["return-path", "delivered-to", "received"], stored[:400])
                self.assertEqual(fields[0][1], "<alice@example.test>")
                received = fields[2][1]
                self.assertRegex(received, r"\bwith ESMTPSA\b", received)
                self.assertIn("mail.example.test", received)

    # -- the outbound queue -------------------------------------------------------

    def test_remote_recipient_is_queued(self):
        before = self.queue_ids()
        data = b"Subject: to a remote domain\r\n\r\nremote-only\r\n"
        r = self.submit(["Some.One@Remote.Test"], data, sender="alice+out@example.test")
        entries = self.new_queue_entries(before)
        self.assertEqual(len(entries), 1, entries)
        e = entries[0]
        self.assertEqual(e["sender"], "alice+out@example.test")
        self.assertEqual(len(e["recipients"]), 1, e)
        address, status, _diag = e["recipients"][0]
        self.assertTrue(same_address(address, "Some.One@Remote.Test"), address)
        self.assertEqual(status, "pending")
        self.assertEqual(e["attempts"], 0)
        self.assertLess(abs(e["created"] - time.time()), 300)
        if e.get("message_id") is not None and queued_id(r):
            self.assertEqual(e["message_id"], queued_id(r))
        refs, size, blob = self.daemon.store.blob(e["blob_id"])
        self.assertEqual(refs, 1, "the queue entry is the blob's only reference")
        self.assertEqual(size, len(blob))
        # What will be relayed is the completed message.
        self.assertTrue(blob.startswith(b"Received: "), blob[:200])
        self.assertRegex(field_values(blob, "Received")[0], r"\bwith ESMTPSA\b")
        self.assertEqual(len(field_values(blob, "Message-ID")), 1, blob)
        self.assertEqual(len(field_values(blob, "Date")), 1, blob)
        self.assertTrue(blob.endswith(data), blob)
        # Nothing about remote mail lands in a local mailbox.
        for user in ("alice@example.test", "bob@example.test", "carol@example.org"):
            self.assertFalse(any(b"remote-only" in m["data"] for m in self.daemon.store.mailbox(user)))

    def test_bdat_to_remote_is_queued(self):
        before = self.queue_ids()
        self.submit(["x@elsewhere.example"], b"Subject: bdat remote\r\n\r\nbdat-remote\r\n",
                    user="bob@example.test", listener="submissions", bdat=True)
        entries = self.new_queue_entries(before)
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(entries[0]["sender"], "bob@example.test")
        _refs, _size, blob = self.daemon.store.blob(entries[0]["blob_id"])
        self.assertIn(b"bdat-remote", blob)

    def test_mixed_local_and_remote_in_one_commit(self):
        local = ["bob@example.test", "carol@example.org"]
        remote = ["ext1@remote.test", "Ext.Two@Elsewhere.Example"]
        before_queue = self.queue_ids()
        before = self.daemon.store.snapshot(local)

        # A reader that keeps taking consistent snapshots while the message
        # is committed: each must be all-before or all-after.
        after = tuple(n + 1 for n in before)
        seen, stop, started, errors = set(), threading.Event(), threading.Event(), []

        def watch():
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    seen.add(self.daemon.store.snapshot(local))
                    started.set()
                except Exception as e:  # reported below
                    errors.append(e)
                    return
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            self.assertTrue(started.wait(30), f"the store reader did not start: {errors}")
            r = self.submit(local + remote, b"Subject: mixed\r\n\r\nmixed-body\r\n")
            time.sleep(0.1)
        finally:
            stop.set()
            watcher.join(timeout=30)
        self.assertFalse(errors, errors)
        self.assertIn(before, seen)
        self.assertLessEqual(seen, {before, after}, f"partial states seen (mailboxes..., queue): {seen}")
        self.assertEqual(self.daemon.store.snapshot(local), after)

        copies = {user: self.new_copy(user, b"mixed-body") for user in local}
        entries = self.new_queue_entries(before_queue)
        self.assertEqual(len(entries), 1, f"one queue entry for all remote recipients: {entries}")
        e = entries[0]
        self.assertEqual(e["sender"], "alice@example.test")
        self.assertEqual(len(e["recipients"]), len(remote), e)
        for want in remote:
            self.assertTrue(any(same_address(a, want) for a, _s, _d in e["recipients"]), (want, e["recipients"]))
        self.assertTrue(all(s == "pending" for _a, s, _d in e["recipients"]), e)
        if e.get("message_id") is not None and queued_id(r):
            self.assertEqual(e["message_id"], queued_id(r))

        # One blob, referenced by both mailbox copies and the queue entry.
        blob_ids = {copy["blob_id"] for copy in copies.values()}
        self.assertEqual(blob_ids, {e["blob_id"]}, f"mailboxes {blob_ids}, queue {e['blob_id']}")
        refs, _size, blob = self.daemon.store.blob(e["blob_id"])
        self.assertEqual(refs, len(local) + 1)
        for user, copy in copies.items():
            self.assertEqual(copy["data"], copy["prefix"] + blob)
            self.assertEqual(copy["prefix"],
                             f"Return-Path: <alice@example.test>\r\nDelivered-To: {user}\r\n".encode())

    def test_alias_recipient_and_remote(self):
        # team@ expands to alice and bob (hosted); the remote one is queued.
        before_queue = self.queue_ids()
        self.submit(["team@example.test", "partner@remote.test"], b"Subject: team\r\n\r\nteam-body\r\n",
                    user="carol@example.org")
        a = self.new_copy("alice@example.test", b"team-body")
        b = self.new_copy("bob@example.test", b"team-body")
        entries = self.new_queue_entries(before_queue)
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(a["blob_id"], b["blob_id"])
        self.assertEqual(entries[0]["blob_id"], a["blob_id"])
        self.assertEqual([r[0] for r in entries[0]["recipients"]], ["partner@remote.test"])


if __name__ == "__main__":
    unittest.main()
