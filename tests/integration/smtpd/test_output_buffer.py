"""test_output_buffer.py - replies to pipelined commands are flushed once
they pass ~8 KiB (issue 11, item 20).

RFC 2920 lets a client send many commands without waiting. Each `EHLO x`
(8 octets) gets a reply of ~180 octets, so 16 KiB of them, read by the daemon
in one go, would queue ~375 KB of replies per session if the daemon flushed
only when no complete command is buffered. The clients here send that and do
not read (their receive buffers are tiny), and the daemon's anonymous memory
must stay about where it was.
"""

import time
import unittest

from aviary_test.ports import slow_reader_socket
from aviary_test.processes import settled_rss_kib
from aviary_test.programs import sanitized_build
from aviary_test.smtp import SmtpClient
from aviary_test.smtpd_case import SmtpdTestCase

SESSIONS = 50
FLOOD = b"EHLO x\r\n" * 2048  # 16 KiB


@unittest.skipIf(sanitized_build(), "RssAnon of an ASan build measures its shadow memory and quarantine")
class OutputBufferTest(SmtpdTestCase):
    smtpd_options = {"max_connections": 200, "max_connections_per_ip": 200}

    def slow_reader(self):
        """A connected, greeted client whose receive buffer is tiny, after one EHLO."""
        sock = slow_reader_socket(self.daemon.smtp_port)
        self.addCleanup(sock.close)
        c = SmtpClient.__new__(SmtpClient)
        c.sock, c.timeout, c.buf, c.tls = sock, 10.0, bytearray(), False
        self.assertReply(c.reply(), "220")
        self.assertReply(c.cmd("EHLO warm.example.net"), "250")
        return c

    def test_pipelined_flood_without_reading_stays_bounded(self):
        pid = self.daemon.smtpd.proc.pid
        clients = [self.slow_reader() for _ in range(SESSIONS)]
        before = settled_rss_kib(pid)
        for c in clients:
            c.sock.sendall(FLOOD)  # 16 KiB fits the daemon's receive buffer
        time.sleep(1.0)  # the daemon reads and answers until its writes block
        after = settled_rss_kib(pid)
        grown = after - before
        # Unflushed, each session holds what its kernel buffer does not take of
        # ~300 KB of replies (~10 MB here, measured); flushed every 8 KiB it
        # holds a few KiB (under 1 MB in all).
        self.assertLess(grown, 3 * 1024,
                        f"RssAnon grew by {grown} KiB for {SESSIONS} sessions that do not read: "
                        f"replies are queued in memory instead of written")

        # Nothing is lost: one client reads, and every EHLO was answered, in order.
        c = clients[0]
        c.sock.settimeout(10)
        answered = 0
        for _ in range(2048):
            r = c.reply(timeout=10)
            self.assertReply(r, "250")
            answered += 1
        self.assertEqual(answered, 2048)
        self.assertReply(c.cmd("NOOP"), "250")


if __name__ == "__main__":
    unittest.main()
