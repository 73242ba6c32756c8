"""test_accept_errors.py - a listener survives accept() errors (issue 11, item 12).

aviary-smtpd runs with a small descriptor limit (RLIMIT_NOFILE set before
exec). Clients connect until accept() fails with EMFILE: those clients wait
in the kernel's backlog without a greeting. When the greeted sessions end and
their descriptors are free again, the listener must take the waiting clients
and new ones: it backs off and retries, it never stops for good.
"""

import resource
import socket
import time
import unittest
from pathlib import Path

from aviary_test.programs import sanitized_build
from aviary_test.smtp import ConnectionClosed, SmtpClient, expect
from aviary_test.smtpd_case import smtpd_daemon

# Descriptors the daemon may open beyond those it holds once it is ready.
HEADROOM = 6


def open_fds(pid):
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def descriptor_limit(nofile):
    """In the child before exec: RLIMIT_NOFILE = nofile (soft and hard)."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


@unittest.skipIf(sanitized_build(), "the ASan runtime needs descriptors of its own, which a starved daemon lacks")
class AcceptErrorTest(unittest.TestCase):

    def setUp(self):
        # A first run without a limit says how many descriptors a ready
        # daemon holds; the limited run gets only a few more than that.
        probe = smtpd_daemon("accept-probe", tls=False)
        self.addCleanup(probe.cleanup)
        probe.add_domain("example.test")
        probe.start()
        time.sleep(0.3)
        baseline = open_fds(probe.smtpd.proc.pid)
        probe.stop()

        self.nofile = baseline + HEADROOM
        self.daemon = smtpd_daemon("accept", tls=False, prepare=descriptor_limit(self.nofile))
        self.addCleanup(self.daemon.cleanup)
        self.daemon.add_domain("example.test")
        self.daemon.start()
        self.clients = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for c in self.clients:
            c.close()
        self.clients = []

    def connect_until_refused(self):
        """Connects until one client gets no greeting within 1s (accept()
        failed); returns (greeted clients, the waiting socket)."""
        greeted = []
        for i in range(HEADROOM * 4):
            c = SmtpClient(self.daemon.smtp_port, timeout=10, greeting=False)
            self.clients.append(c)
            try:
                r = c.reply(timeout=1.0)
            except socket.timeout:
                return greeted, c
            expect(r, "220", what=f"greeting of client {i}")
            greeted.append(c)
        self.fail(f"{len(greeted)} clients greeted with RLIMIT_NOFILE={self.nofile}: "
                  f"the limit was never reached\n{self.daemon.smtpd.log_tail()}")

    def test_listener_resumes_after_emfile(self):
        greeted, waiting = self.connect_until_refused()
        self.assertGreater(len(greeted), 0, "not even one client was greeted")
        deadline = time.monotonic() + 5
        while "Too many open files" not in self.daemon.smtpd.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("Too many open files", self.daemon.smtpd.log(), "accept() never failed with EMFILE")

        # The greeted sessions end: their descriptors are free again.
        for c in greeted:
            c.send("QUIT\r\n")
        for c in greeted:
            try:
                c.reply(timeout=5)
            except (ConnectionClosed, OSError):
                pass
            c.close()

        # The client that waited in the backlog is taken now...
        try:
            r = waiting.reply(timeout=5)
        except socket.timeout:
            self.fail(f"the waiting client was never accepted: the listener stopped\n{self.daemon.smtpd.log_tail()}")
        expect(r, "220", what="greeting of the client that waited in the backlog")
        expect(waiting.cmd("NOOP"), "250")
        waiting.cmd("QUIT")
        waiting.close()

        # ...and so are new clients, for the whole session.
        for i in range(3):
            with SmtpClient(self.daemon.smtp_port, timeout=5) as c:
                expect(c.greeting, "220", what=f"new client {i} after the descriptors were freed")
                expect(c.cmd("EHLO client.example.net"), "250")
                expect(c.cmd("QUIT"), "221")
        self.assertTrue(self.daemon.smtpd.alive(), self.daemon.smtpd.log_tail())
        self.assertNotIn("stopped:", self.daemon.smtpd.log())

    def test_no_busy_loop_while_out_of_descriptors(self):
        """While accept() keeps failing the daemon backs off: it does not burn
        a core retrying, and it logs the episode once, not per retry."""
        greeted, _waiting = self.connect_until_refused()
        stat = Path(f"/proc/{self.daemon.smtpd.proc.pid}/stat")

        def cpu_ticks():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime

        before = cpu_ticks()
        time.sleep(2.0)
        used = (cpu_ticks() - before) / 100.0  # USER_HZ ticks to seconds (Linux: 100)
        self.assertLess(used, 0.5, f"{used:.2f}s of CPU in 2s while out of descriptors: a busy loop")
        self.assertLessEqual(self.daemon.smtpd.log().count("Too many open files"), 1, self.daemon.smtpd.log_tail())
        self.assertTrue(self.daemon.smtpd.alive())


if __name__ == "__main__":
    unittest.main()
