"""test_large.py - a 30 MiB message (smtpd.max_message_size = "40MiB").

RETR returns it intact (same bytes as stored and as sent, dot-stuffed on the
wire, size as announced), TOP of it is quick, and RETR streams from the
store: while a slow client reads it, the daemon's anonymous memory does not
grow by anything near the message size (the LMDB map is file-backed and is
not counted in RssAnon).
"""

import hashlib
import os
import random
import socket
import time
import unittest

from aviary_test.messages import split_trace
from aviary_test.pop3_case import Pop3TestCase

SIZE = 30 * 1024 * 1024


def big_message(seed=7):
    rnd = random.Random(seed)
    head = (b"From: <big@remote.test>\r\nTo: <rcpt@example.test>\r\nSubject: thirty MiB\r\n"
            b"Message-ID: <big.30mib@remote.test>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    pool = bytes(alphabet[b % 64] for b in rnd.randbytes(1 << 16))
    lines = []
    size = len(head)
    i = 0
    while size < SIZE:
        start = rnd.randrange(0, len(pool) - 80)
        line = pool[start:start + rnd.randrange(0, 77)] if i % 997 else b""
        if i % 101 == 0:
            line = b"." + line  # needs dot-stuffing
        if i % 503 == 0:
            line = b"."
        lines.append(line + b"\r\n")
        size += len(line) + 2
        i += 1
    return head + b"".join(lines)


class LargeMessageTest(Pop3TestCase):

    smtpd_options = {"max_message_size": "40MiB"}
    pop3d_options = {"allow_plaintext_auth": True}
    map_size = "1GiB"

    @classmethod
    def prepare(cls, h):
        cls.sent = big_message()
        cls.user, cls.pw = h.add_user("big@example.test")
        h.deliver(cls.user, cls.sent)

    def test_retr_intact(self):
        stored = self.host.messages(self.user)
        self.assertEqual(len(stored), 1)
        self.assertEqual(split_trace(stored[0])[1], self.sent, "smtpd stored something else")
        c = self.session(self.user, self.pw)
        n, size = c.stat()
        self.assertEqual((n, size), (1, len(stored[0])))
        t0 = time.monotonic()
        data = c.retr(1, timeout=120)
        elapsed = time.monotonic() - t0
        self.assertEqual(len(data), len(stored[0]))
        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(stored[0]).hexdigest(),
                         "RETR of the 30 MiB message differs from the stored one")
        self.assertEqual(split_trace(data)[1], self.sent)
        self.assertLess(elapsed, 60, f"RETR of 30 MiB took {elapsed:.1f}s")
        self.assertOk(c.cmd("NOOP"))
        c.quit()

    def test_top_of_large_message(self):
        c = self.session(self.user, self.pw)
        t0 = time.monotonic()
        r, lines = c.cmd_multi("TOP 1 3", timeout=30)
        self.assertOk(r)
        head = self.host.messages(self.user)[0].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        body = self.sent.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(b"".join(lines), head + b"".join(l + b"\r\n" for l in body.split(b"\r\n")[:3]))
        self.assertLess(time.monotonic() - t0, 5, "TOP 1 3 of a 30 MiB message is slow")
        c.quit()

    def test_retr_streams(self):
        """A slow reader: the daemon's RssAnon stays far below the message size."""
        # A fresh process: memory freed after an earlier RETR may stay in
        # the heap (glibc) and would hide a full copy of the message.
        self.assertEqual(self.host.pop3d.stop(), 0)
        self.host.restart_pop3d()
        c = self.session(self.user, self.pw)
        pid = self.host.pop3d.pid
        base = self.host.pop3d.rss_anon_kib()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send("RETR 1\r\n")
        peak = base
        got = 0
        deadline = time.monotonic() + 120
        c.sock.settimeout(30)
        received = bytearray()
        while not received.endswith(b"\r\n.\r\n"):
            if time.monotonic() > deadline:
                self.fail("RETR did not finish in 120s")
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                self.fail("connection closed during RETR")
            received += chunk
            got += len(chunk)
            if got < 8 * 1024 * 1024:  # read slowly at first, sampling memory
                time.sleep(0.005)
                peak = max(peak, self.host.pop3d.rss_anon_kib())
        peak = max(peak, self.host.pop3d.rss_anon_kib())
        growth_mib = (peak - base) / 1024
        if os.environ.get("AVIARY_TEST_DEBUG"):
            print(f"\nRssAnon {base} KiB before RETR, peak {peak} KiB")
        self.assertLess(growth_mib, 16, f"RssAnon of pid {pid} grew by {growth_mib:.1f} MiB during RETR "
                                        "of 30 MiB: the message is not streamed")
        self.assertTrue(received.startswith(b"+OK"))
        c.buf = bytearray()
        self.assertOk(c.cmd("NOOP"))
        c.quit()


if __name__ == "__main__":
    unittest.main()
