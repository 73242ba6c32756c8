"""test_map_resize.py - two daemons with different storage.map_size on one store.

aviary-pop3d runs with a small map and streams large messages to several
clients at once, while aviary-smtpd, configured with a much bigger map,
receives mail that grows the data file past pop3d's map. LMDB then tells
pop3d's next transaction MDB_MAP_RESIZED, and pop3d must remap while no
other of its threads is inside a transaction: before the fix one thread
remapped under the others' feet (SIGSEGV/SIGBUS in the middle of a RETR).
Every RETR must be byte-exact, the daemon must log the remap, and a pop3d
started later with the small map_size adopts the store's bigger map with a
warning. Each round is a fresh store; the rounds are bounded.
"""

import os
import socket
import threading
import time
import unittest

from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import DOMAINS, mailhost
from aviary_test.processes import Proc
from aviary_test.programs import program
from aviary_test.smtp import dot_stuff

SMALL_MAP = "8MiB"
BIG_MAP = "512MiB"
READERS = 5
ROUNDS = 3


def body_of(size, seed):
    """A message of about `size` bytes, lines that need dot-stuffing included."""
    head = (f"From: <big@remote.test>\r\nTo: <r@example.test>\r\nSubject: map {seed}\r\n"
            f"Message-ID: <map.{seed}@remote.test>\r\n\r\n").encode()
    line = 0
    parts = [head]
    total = len(head)
    while total < size:
        text = (b"." if line % 97 == 0 else b"") + f"{seed}:{line:08d} ".encode() + b"x" * (line % 70) + b"\r\n"
        parts.append(text)
        total += len(text)
        line += 1
    return b"".join(parts)


class MapGrownByAnotherDaemon(unittest.TestCase):

    def test_pop3d_keeps_streaming_while_smtpd_grows_the_store(self):
        for round_no in range(ROUNDS):
            with self.subTest(round=round_no):
                self.one_round(round_no)

    def one_round(self, round_no):
        t0 = time.monotonic()

        def phase(what):
            if os.environ.get("AVIARY_TEST_DEBUG"):
                print(f"round {round_no}: {what} at {time.monotonic() - t0:.1f}s", flush=True)
        h = mailhost(f"mapresize{round_no}", map_size=SMALL_MAP, tls=False, pop3s=False,
                     smtpd={"max_message_size": "16MiB"},
                     pop3d={"allow_plaintext_auth": True, "io_threads": 4})
        big = None
        try:
            for d in DOMAINS:
                h.add_domain(d)
            readers = [h.add_user(f"reader{i}@example.test") for i in range(READERS)]
            bulk, _ = h.add_user("bulk@example.test")

            # 1. The messages to read go in while everybody has the small map.
            h.smtpd.start()
            h.wait_smtpd()
            for i, (user, _pw) in enumerate(readers):
                h.deliver(user, body_of(1 << 20, f"{round_no}.{i}"))
            self.assertEqual(h.smtpd.stop(), 0)
            expected = {user: h.messages(user)[0] for user, _pw in readers}

            phase("read messages delivered")
            # 2. pop3d with the small map; several sessions stream at once.
            h.pop3d.start()
            h.wait_pop3d()
            stop = threading.Event()
            errors = []
            retrs = {user: 0 for user, _pw in readers}

            def read_loop(user, password):
                # The wire bytes are compared whole (status line, dot-stuffed
                # body, final dot) and read with large recv()s: a fast client
                # keeps pop3d's threads busy inside their read transactions.
                wire = dot_stuff(expected[user]) + b".\r\n"
                status = f"+OK {len(expected[user])} octets\r\n".encode()
                try:
                    with Pop3Client(h.pop3_port, timeout=60, source="127.0.0.1") as c:
                        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                        c.login(user, password)
                        while not stop.is_set():
                            c.send(b"RETR 1\r\n")
                            line = c.read_line(timeout=60)
                            if line != status:
                                errors.append(f"{user}: RETR answered {line!r}")
                                return
                            got = bytearray(c.buf)
                            c.buf.clear()
                            while len(got) < len(wire):
                                chunk = c.sock.recv(max(1 << 20, len(wire) - len(got)))
                                if not chunk:
                                    errors.append(f"{user}: connection closed after {len(got)} bytes of RETR")
                                    return
                                got += chunk
                            if got != wire:
                                errors.append(f"{user}: RETR sent {len(got)} bytes that differ from the stored "
                                              f"message ({len(wire)} on the wire)")
                                return
                            retrs[user] += 1
                        c.quit()
                except Exception as e:  # reported below, with the daemon's log
                    errors.append(f"{user}: {e!r}")

            threads = [threading.Thread(target=read_loop, args=r) for r in readers]
            for t in threads:
                t.start()

            # 3. smtpd with a much bigger map grows the file past pop3d's.
            big_config = h.dir / "aviary-big.toml"
            h.map_size = BIG_MAP
            h.write_config(big_config)
            h.map_size = SMALL_MAP
            big = Proc("aviary-smtpd (big map)", [program("aviary-smtpd"), "-c", str(big_config)],
                       h.dir / "smtpd-big.log")
            h.smtpd = big  # wait_smtpd and deliver use h.smtpd
            big.start()
            h.wait_smtpd()
            phase("big smtpd ready")
            before = dict(retrs)
            h.deliver(bulk, body_of(5 << 20, f"bulk.{round_no}"))

            phase("store grown")
            # 4. Until pop3d has remapped and every reader has read again.
            deadline = time.monotonic() + 60
            remapped = f"remapped from {SMALL_MAP} to {BIG_MAP}"
            while time.monotonic() < deadline and not errors and h.pop3d.alive():
                if remapped in h.pop3d.log() and all(retrs[u] >= before[u] + 2 for u in retrs):
                    break
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            if errors:
                h.pop3d.wait(5)  # a crash closes the sockets before the process is gone
            self.assertTrue(h.pop3d.alive(), f"aviary-pop3d died (exit {h.pop3d.proc.returncode}) while the "
                                             f"store grew:\n{h.pop3d.log_tail()}")
            self.assertEqual(errors, [], h.pop3d.log_tail())
            self.assertFalse(any(t.is_alive() for t in threads), "a reader hung")
            self.assertIn(remapped, h.pop3d.log(), "pop3d never had to remap: the test did not test it")
            for user in retrs:
                self.assertGreaterEqual(retrs[user], before[user] + 2, f"{user} did not read after the growth")
            self.assertEqual(h.pop3d.stop(), 0, h.pop3d.log_tail())

            phase("readers done")
            # 5. A pop3d started with the small map_size adopts the store's.
            h.pop3d.start()
            h.wait_pop3d()
            self.assertIn(f"storage.map_size is {SMALL_MAP} but the store at {h.store_path} has a map of "
                          f"{BIG_MAP} (a process configured with more grew it): using {BIG_MAP}", h.pop3d.log())
            user, password = readers[0]
            with Pop3Client(h.pop3_port, timeout=60, source="127.0.0.1") as c:
                c.login(user, password)
                self.assertEqual(c.retr(1, timeout=60), expected[user])
                c.quit()
            self.assertEqual(len(h.messages(bulk)), 1)
        finally:
            if big is not None:
                big.kill()
            h.cleanup()


if __name__ == "__main__":
    unittest.main()
