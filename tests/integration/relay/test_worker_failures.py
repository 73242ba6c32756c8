"""test_worker_failures.py - the queue runner keeps going when one entry goes wrong.

Issue 11 item 25: a relay worker that met an exception other than a socket
error (here: the body vanished because `aviaryctl queue del` removed the
entry while its data was on the wire to a slow server) must settle its job
and give its connection slot back. With relay.connections_per_destination
= 1 a lost slot means nothing ever reaches that destination again, so a
second message to it is the proof.

Issue 11 item 8: a queue record that cannot be decoded (written here
straight into the store's queue table, due before everything else) must
not stop the relay: the other messages are delivered, the record is
logged once and counted in aviary_queue_corrupt_records_total, which is
exported at 0 from the first scrape.
"""

import re
import struct
import threading
import time
import unittest

from aviary_test.messages import make_message
from aviary_test.peers import LoopbackServer
from aviary_test.relay_case import RelayTestCase, WAIT
from aviary_test.smtp import ConnectionClosed

CORRUPT_METRIC = "aviary_queue_corrupt_records_total"


def metric(text, name):
    """The value of an unlabelled sample, or None when it is not exported."""
    m = re.search(r"^" + re.escape(name) + r"(?:\{\})?\s+(\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class SlowSink(LoopbackServer):
    """An SMTP server on ip:port that, for the first message only, answers
    354 and then stops reading until release() (so the sender blocks with
    most of the data still unsent). It records every message it got whole
    (the final "." seen) and every transaction cut off mid-data."""

    label = "slow sink"

    def __init__(self, ip, port):
        self.completed = []    # message bytes
        self.cut_off = 0       # data phases that ended without "."
        self.data_bytes = 0    # of the held (first) message read so far
        self.holding = threading.Event()   # set once the first DATA is held
        self.released = threading.Event()
        self.held_once = False
        # A small receive window: the sender blocks after a few KiB.
        super().__init__(ip, port, backlog=8, rcvbuf=4096)

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        super().stop()

    def _serve(self, conn, peer):
        self._session(conn)

    def _session(self, conn):
        conn.settimeout(WAIT)
        buf = bytearray()

        def send(line):
            conn.sendall(line.encode() + b"\r\n")

        def read_line():
            while b"\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionClosed("peer closed")
                buf.extend(chunk)
            i = buf.index(b"\n")
            line = bytes(buf[:i]).rstrip(b"\r")
            del buf[:i + 1]
            return line

        try:
            send("220 sink.b.test ESMTP slow")
            for _ in range(1000):
                line = read_line().decode("utf-8", "replace")
                verb = line.split(" ", 1)[0].upper()
                self.log(f"C: {line[:80]}")
                if verb == "EHLO":
                    send("250-sink.b.test")
                    send("250 8BITMIME")
                elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                    send("250 2.0.0 Ok")
                elif verb == "DATA":
                    send("354 go ahead")
                    hold = not self.held_once
                    self.held_once = True
                    data = bytearray()
                    if hold:
                        # Read a little so that the sender is surely inside
                        # the body, then sit on the socket.
                        while len(buf) < 65536:
                            chunk = conn.recv(65536)
                            if not chunk:
                                break
                            buf.extend(chunk)
                        self.data_bytes = len(buf)
                        self.holding.set()
                        self.log("holding the data")
                        self.released.wait(WAIT * 2)
                        self.log("reading on")
                    try:
                        for _ in range(10_000_000):
                            raw = read_line()
                            if raw == b".":
                                break
                            data += raw + b"\r\n"
                    except (OSError, ConnectionClosed):
                        with self.lock:
                            self.cut_off += 1
                        self.log(f"data cut off after {len(data)} octets")
                        return
                    with self.lock:
                        self.completed.append(bytes(data))
                    send("250 2.0.0 Ok: queued")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("502 5.5.2 Command not implemented")
        except (OSError, ConnectionClosed) as e:
            self.log(f"closed: {e!r}")
        finally:
            conn.close()


class WorkerFailureTest(RelayTestCase):

    def test_body_deleted_mid_transfer_settles_the_job_and_frees_the_slot(self):
        ip4 = self.net.ip(4)
        sink = SlowSink(ip4, self.net.smtp_port)
        self.addCleanup(sink.stop)
        self._parts.append(sink)
        a = self.host("a", "a.test", 2,
                      relay={"routes": {"b.test": f"{ip4}:{self.net.smtp_port}"},
                             "connections_per_destination": 1, "max_connections": 1},
                      smtpd={"max_message_size": "64MiB"})
        a.add_user("alice@a.test")

        # 24 MiB: far more than the socket buffers between the relay and the sink.
        line = ("x" * 76 + "\r\n").encode()
        big = line * (24 * 1024 * 1024 // len(line))
        first = self.marker("vanishing")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", first, body=big))
        self.assertTrue(sink.holding.wait(WAIT), "the relay never got into the data\n" + self.logs())
        entries = a.queue()
        self.assertEqual(len(entries), 1, entries)
        time.sleep(0.5)  # the relay now waits in a write, most of the body still in the store
        a.ctl("queue", "del", str(entries[0]["id"]))
        sink.release()

        # The relay finds the body gone, drops that connection (no "." that
        # would deliver a truncated message) and settles the job.
        self.wait_for(lambda: sink.cut_off >= 1, "the first transaction cut off mid-data")
        self.assertEqual(sink.completed, [], "a message whose body vanished was completed")

        # The only connection slot to b.test is free again.
        second = self.marker("after")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", second))
        self.wait_for(lambda: any(second.encode() in m for m in sink.completed),
                      "the second message delivered through the freed slot")
        self.wait_queue_empty(a)
        log = a.smtpd.log()
        self.assertNotIn("delivery worker failed", log, "the worker died instead of settling its job")
        self.assertRegex(log, r"status=deferred \(local error", "the vanished body was not settled as deferred")
        self.assertEqual(a.count("alice@a.test"), 0, "a deleted entry produced a bounce")
        self.assertAlive(a)

    def test_undecodable_queue_record_is_skipped_counted_and_logged_once(self):
        mx = self.scripted(4)
        a = self.host("a", "a.test", 2, relay={"routes": {"b.test": f"{self.net.ip(4)}:{self.net.smtp_port}"}})
        a.add_user("alice@a.test")
        # Exported at 0 before anything happened.
        self.assertEqual(metric(a.metrics_text(), CORRUPT_METRIC), 0.0, f"{CORRUPT_METRIC} not exported at 0")

        # Queue id 0 (never handed out: ids start at 1) with a version byte
        # nobody wrote, due at time 0: first in the table and in the due index.
        import lmdb  # Debian package python3-lmdb
        env = lmdb.open(str(a.store_path), map_size=256 << 20, max_dbs=16, subdir=True, create=False)
        try:
            with env.begin(write=True) as txn:
                queue = env.open_db(b"queue", txn=txn, create=False)
                due = env.open_db(b"queue_due", txn=txn, create=False)
                txn.put(struct.pack(">Q", 0), b"\xee not a queue record", db=queue)
                txn.put(struct.pack(">QQ", 0, 0), b"", db=due)
        finally:
            env.close()
        a.ctl("queue", "flush", check=False)  # wakes the runner; the garbage may make it fail

        subjects = [self.marker(f"good-{i}") for i in range(3)]
        for s in subjects:
            a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", s))
        self.wait_for(lambda: len(mx.delivered_to("bob@b.test")) >= 3, "the three good messages delivered")
        data = [tx["data"] for tx in mx.delivered_to("bob@b.test")]
        for s in subjects:
            self.assertEqual(sum(s.encode() in d for d in data), 1, s)

        time.sleep(3)  # three more polls: still one log line, still one count
        self.assertEqual(metric(a.metrics_text(), CORRUPT_METRIC), 1.0)
        skipped = [l for l in a.smtpd.log().splitlines() if re.search(r"queue entry 0 cannot be read", l)]
        self.assertEqual(len(skipped), 1, "the bad record is logged once:\n" + "\n".join(skipped[:5]))
        # The listing shows the readable entries (none left) instead of failing.
        self.assertEqual(a.queue(), [])
        self.assertAlive(a)


if __name__ == "__main__":
    unittest.main()
