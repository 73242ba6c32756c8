"""test_output_buffer.py - replies to pipelined POP3 commands are flushed once
they pass ~8 KiB (issue 11, item 20, the same defect in aviary-pop3d).

RFC 2449 PIPELINING lets a client send many commands without waiting. Each
`CAPA` (6 octets) gets a multi-line reply of ~150 octets, so 16 KiB of them,
read in one go, would queue ~400 KB of replies per session if the daemon
flushed only when no complete command is buffered. The clients here send
that and do not read, and the daemon's anonymous memory must stay about
where it was; then one client reads every reply, in order.
"""

import time
import unittest

from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import Pop3TestCase
from aviary_test.ports import slow_reader_socket
from aviary_test.processes import settled_rss_kib
from aviary_test.programs import sanitized_build

SESSIONS = 40
COMMANDS = 2730
FLOOD = b"CAPA\r\n" * COMMANDS  # 16 KiB


@unittest.skipIf(sanitized_build(), "RssAnon of an ASan build measures its shadow memory and quarantine")
class OutputBufferTest(Pop3TestCase):
    pop3d_options = {"max_connections_per_ip": 200, "max_errors": 20}

    def slow_reader(self):
        """A greeted client with tiny windows."""
        sock = slow_reader_socket(self.host.pop3_port)
        self.addCleanup(sock.close)
        c = Pop3Client.__new__(Pop3Client)
        c.sock, c.timeout, c.buf, c.tls = sock, 10.0, bytearray(), False
        self.assertOk(c.response())
        return c

    def test_pipelined_flood_without_reading_stays_bounded(self):
        clients = [self.slow_reader() for _ in range(SESSIONS)]
        before = settled_rss_kib(self.host.pop3d.pid)
        for c in clients:
            c.sock.sendall(FLOOD)
        time.sleep(1.0)
        grown = settled_rss_kib(self.host.pop3d.pid) - before
        self.assertLess(grown, 3 * 1024,
                        f"RssAnon grew by {grown} KiB for {SESSIONS} sessions that do not read: "
                        f"replies are queued in memory instead of written")
        c = clients[0]
        for _ in range(COMMANDS):
            self.assertOk(c.response(timeout=10))
            c.multiline(timeout=10)
        self.assertOk(c.cmd("QUIT"))


if __name__ == "__main__":
    unittest.main()
