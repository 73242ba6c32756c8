"""test_pools.py - MX and submission sessions count in separate pools
(issue 11, item 13).

smtpd.max_connections limits port-25 sessions, smtpd.max_submission_connections
the sessions of 587 and 465 together. A flood on port 25 (spam, a botnet)
must not lock the hosted users out of submission, nor the other way round.
"""

import ssl
import time
import unittest

from aviary_test.certificates import HOSTNAME
from aviary_test.ports import fresh_source
from aviary_test.smtp import ConnectionClosed, SmtpClient
from aviary_test.submission_case import SubmissionTestCase


class PoolTest(SubmissionTestCase):
    smtpd_options = {"max_connections": 3, "max_submission_connections": 3, "max_connections_per_ip": 50}

    def fill(self, port, n, implicit_tls=False):
        """n sessions on port, each from its own address, all greeted."""
        held = []
        deadline = time.monotonic() + 10
        while len(held) < n:
            c = SmtpClient(port, source=fresh_source(), greeting=False)
            self.addCleanup(c.close)
            try:
                if implicit_tls:
                    c.handshake(self.tls_context(), server_hostname=HOSTNAME)
                c.greeting = c.reply()
            except (ssl.SSLError, ConnectionClosed, OSError) as e:
                c.greeting = e  # refused in plain text: no TLS
            if not isinstance(c.greeting, Exception) and c.greeting.code == 220:
                held.append(c)
            else:  # a readiness probe's session may still be ending
                self.assertLess(time.monotonic(), deadline, f"cannot fill the pool: {c.greeting!r}")
                c.close()
                time.sleep(0.1)
        return held

    def assertRefused(self, port):
        c = SmtpClient(port, source=fresh_source(), greeting=False)
        self.addCleanup(c.close)
        self.assertReply(c.reply(), "421", "4.7.0", what=f"a session over the limit on port {port}")

    def test_flood_on_25_leaves_submission_open(self):
        mx = self.fill(self.daemon.smtp_port, 3)
        self.assertRefused(self.daemon.smtp_port)
        # The users still get in on both submission ports, and can send.
        c = self.session("submission", user="alice@example.test")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
        self.assertReply(c.cmd("RSET"), "250")
        s = self.session("submissions", user="bob@example.test")
        self.assertReply(s.cmd("NOOP"), "250")
        for m in mx:
            self.assertReply(m.cmd("NOOP"), "250")
            m.cmd("QUIT")
            m.close()

    def test_submission_sessions_count_together_and_not_on_25(self):
        time.sleep(0.3)  # sessions of the last test are gone
        held = self.fill(self.daemon.submission_port, 2)
        held += self.fill(self.daemon.submissions_port, 1, implicit_tls=True)
        self.assertRefused(self.daemon.submission_port)
        # Over the limit, 465 refuses before TLS: the 421 comes in plain text.
        self.assertRefused(self.daemon.submissions_port)
        # Port 25 has its own room.
        mx = self.mx()
        self.assertReply(mx.greeting, "220")
        self.assertReply(mx.cmd("EHLO client.example.net"), "250")
        for h in held:
            self.assertReply(h.cmd("NOOP"), "250")
            h.cmd("QUIT")
            h.close()


if __name__ == "__main__":
    unittest.main()
