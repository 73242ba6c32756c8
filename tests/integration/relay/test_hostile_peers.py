"""test_hostile_peers.py - next hops that do not play by RFC 5321.

Issue 11 item 26: a tarpit that dribbles its replies one byte a second
re-arms every per-read timeout and would hold a relay worker for hours.
relay.transaction_deadline (here 3s) bounds one connection set-up and one
transaction: the message is deferred soon after it, and the connection
is closed.

Issue 11 item 27: only 2xx is success. A server that answers a RCPT with
354, or the end of the data with 354, has not taken the message: the
recipient stays queued (deferred), it is not counted as delivered.
"""

import time
import unittest

from aviary_test.messages import make_message
from aviary_test.peers import LoopbackServer
from aviary_test.relay_case import RelayTestCase, WAIT

DEADLINE = 3  # seconds, relay.transaction_deadline in these tests


class Tarpit(LoopbackServer):
    """An SMTP server that greets and answers EHLO at once (unless
    slow_greeting), then answers MAIL one byte a second, forever: a reply of
    endless "250-" lines. Records when each connection opened and closed."""

    label = "tarpit"

    def __init__(self, ip, port, slow_greeting=False):
        self.slow_greeting = slow_greeting
        self.connections = []  # [opened, closed or None] (monotonic)
        super().__init__(ip, port, backlog=8)

    def _serve(self, conn, peer):
        with self.lock:
            record = [time.monotonic(), None]
            self.connections.append(record)
        self._session(conn, record)

    def _dribble(self, conn):
        """One byte a second of "250-tarpit" lines until the peer goes away
        (at most 120 s: every loop is bounded)."""
        text = b"250-tarpit\r\n" * 12
        for byte in text:
            if self.stopping.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(1.0)

    def _session(self, conn, record):
        conn.settimeout(WAIT)
        buf = bytearray()
        try:
            if self.slow_greeting:
                self.log("greeting one byte a second")
                self._dribble(conn)
                return
            conn.sendall(b"220 tarpit.b.test ESMTP\r\n")
            for _ in range(100):
                while b"\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf.extend(chunk)
                i = buf.index(b"\r\n")
                line = bytes(buf[:i]).decode("ascii", "replace")
                del buf[:i + 2]
                self.log(f"C: {line}")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-tarpit.b.test\r\n250 8BITMIME\r\n")
                elif verb == "MAIL":
                    self.log("answering MAIL one byte a second")
                    self._dribble(conn)
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")
        except OSError as e:
            self.log(f"closed: {e!r}")
        finally:
            with self.lock:
                record[1] = time.monotonic()
            self.log("connection closed")
            conn.close()


class HostilePeersTest(RelayTestCase):

    def relay_to(self, n, **extra):
        relay = {"routes": {"b.test": f"{self.net.ip(n)}:{self.net.smtp_port}"}}
        relay.update(extra)
        a = self.host("a", "a.test", 2, relay=relay)
        a.add_user("alice@a.test")
        return a

    def tarpit(self, **kw):
        t = Tarpit(self.net.ip(4), self.net.smtp_port, **kw)
        self.addCleanup(t.stop)
        self._parts.append(t)
        return t

    def deferred_with(self, a, needle, timeout):
        """The queue entry once its first attempt is recorded, with `needle`
        in the diagnostic of its pending recipient."""
        def attempted():
            for e in a.queue():
                diags = [r.get("diagnostic", "") for r in e["recipients"] if r["status"] == "pending"]
                if e["attempts"] >= 1 and any(needle in d for d in diags):
                    return e
            return None
        return self.wait_for(attempted, lambda: f"a deferral mentioning {needle!r}: {a.queue()}", timeout=timeout)

    def check_tarpit_released(self, pit, started):
        closed = self.wait_for(lambda: pit.connections and pit.connections[0][1], "the tarpit connection closed",
                               timeout=DEADLINE + 10)
        self.assertLess(closed - started, DEADLINE + 8, "the relay held on to the tarpit past its deadline")

    def test_tarpit_dribbling_the_mail_reply_is_cut_off_at_the_deadline(self):
        pit = self.tarpit()
        a = self.relay_to(4, transaction_deadline=f"{DEADLINE}s")
        started = time.monotonic()
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("tarpit")))
        entry = self.deferred_with(a, "relay.transaction_deadline", timeout=DEADLINE + 10)
        self.assertEqual([r["status"] for r in entry["recipients"]], ["pending"])
        self.check_tarpit_released(pit, started)
        self.assertEqual(a.count("alice@a.test"), 0, "a deadline is a temporary failure: no bounce")
        self.assertAlive(a)

    def test_tarpit_dribbling_the_greeting_is_cut_off_at_the_deadline(self):
        pit = self.tarpit(slow_greeting=True)
        a = self.relay_to(4, transaction_deadline=f"{DEADLINE}s")
        started = time.monotonic()
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("slow220")))
        self.deferred_with(a, "relay.transaction_deadline", timeout=DEADLINE + 10)
        self.check_tarpit_released(pit, started)
        self.assertAlive(a)

    def test_354_to_rcpt_is_not_acceptance(self):
        mx = self.scripted(4, name="mx.b.test", rcpt_script={"odd@b.test": [(354, "Start mail input")]})
        a = self.relay_to(4)
        subject = self.marker("rcpt354")
        a.submit("alice@a.test", ["ok@b.test", "odd@b.test"],
                 make_message("alice@a.test", "ok@b.test", subject))
        self.wait_for(lambda: len(mx.delivered_to("ok@b.test")) == 1, "ok@b.test delivered")
        entry = self.deferred_with(a, "354", timeout=WAIT)
        pending = [r["address"] for r in entry["recipients"] if r["status"] == "pending"]
        self.assertEqual(pending, ["odd@b.test"], f"a 354 to RCPT counted as acceptance: {entry}")
        delivered = [r["address"] for r in entry["recipients"] if r["status"] == "delivered"]
        self.assertEqual(delivered, ["ok@b.test"])
        self.assertEqual(a.count("alice@a.test"), 0, "an unexpected 3xx is no permanent failure")

    def test_354_after_the_data_is_not_acceptance(self):
        mx = self.scripted(4, name="mx.b.test", data_reply=lambda tx: (354, "more please"))
        a = self.relay_to(4)
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("data354")))
        self.wait_for(lambda: any(tx["reply"] == 354 for tx in mx.snapshot()), "the data answered with 354")
        entry = self.deferred_with(a, "354", timeout=WAIT)
        self.assertEqual([r["status"] for r in entry["recipients"]], ["pending"],
                         f"a 354 after the data counted as delivery: {entry}")
        self.assertNotRegex(a.smtpd.log(), r"to=<bob@b\.test>.*status=delivered")
        self.assertEqual(a.count("alice@a.test"), 0)


if __name__ == "__main__":
    unittest.main()
