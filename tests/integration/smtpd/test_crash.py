"""test_crash.py - durability and shutdown.

SIGKILL right after a 250: the message is there after a restart. SIGKILL
under load: every 250'd message is there, every stored message is whole.
SIGTERM: the daemon stops accepting, lets open transactions finish within
shutdown_timeout, answers the rest 421 4.3.2, exits 0, and leaves nothing
half-stored.
"""

import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

from aviary_test.programs import sanitized_build
from aviary_test.messages import message, split_trace
from aviary_test.smtp import ConnectionClosed, SmtpClient, expect
from aviary_test.smtpd_case import smtpd_daemon, standard_population

SHUTDOWN_TIMEOUT = 5  # the fixture's smtpd.shutdown_timeout, seconds


class CrashTest(unittest.TestCase):

    def setUp(self):
        self.daemon = smtpd_daemon("crash", smtpd={"shutdown_timeout": f"{SHUTDOWN_TIMEOUT}s"})
        self.addCleanup(self.daemon.cleanup)
        standard_population(self.daemon)
        self.daemon.start()

    def client(self):
        c = self.daemon.client()
        self.addCleanup(c.close)
        return c

    def restart(self):
        self.daemon.start()

    def test_sigkill_right_after_250(self):
        bodies = []
        for round_ in range(3):
            c = self.client()
            expect(c.ehlo(), "250")
            body = message(f"durable {round_}", body="must survive\r\n")
            expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
            expect(c.cmd("RCPT TO:<team@example.test>"), "250")
            expect(c.cmd("DATA"), "354")
            c.send(body + b".\r\n")
            expect(c.reply(), "250", "2.0.0")
            self.daemon.smtpd.kill()  # at once, no chance to flush anything later
            bodies.append(body)
            self.restart()
            for mailbox in ("alice@example.test", "bob@example.test"):
                stored = [split_trace(m)[1] for m in self.daemon.messages(mailbox)]
                self.assertEqual(stored, bodies, f"{mailbox} after SIGKILL {round_ + 1}")

    def test_sigkill_right_after_bdat_250(self):
        c = self.client()
        expect(c.ehlo(), "250")
        body = message("durable bdat", body=b"\x00binary\xff\r\n")
        expect(c.bdat("sender@remote.test", ["carol@example.org"], [body], "8BITMIME"), "250")
        self.daemon.smtpd.kill()
        self.restart()
        self.assertEqual([split_trace(m)[1] for m in self.daemon.messages("carol@example.org")], [body])

    def test_sigkill_under_load(self):
        """Writers send until the kill; nothing 250'd is lost, nothing is partial."""
        accepted, sent = {}, {}
        stop = threading.Event()

        def writer(n):
            try:
                c = SmtpClient(self.daemon.smtp_port, timeout=30)
                expect(c.ehlo(), "250")
                for i in range(1000):
                    if stop.is_set():
                        return
                    marker = f"load-{n}-{i}"
                    body = message(marker, body=("payload line\r\n" * (20 + i % 50)))
                    sent[marker] = body
                    if c.transaction("sender@remote.test", ["alice@example.test"], body).code == 250:
                        accepted[marker] = body
            except (ConnectionClosed, OSError, AssertionError):
                return  # the kill cuts every session

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(accepted) < 50 and time.monotonic() < deadline and self.daemon.smtpd.alive():
            time.sleep(0.05)
        self.assertTrue(self.daemon.smtpd.alive(), f"aviary-smtpd died under load (exit "
                        f"{self.daemon.smtpd.proc.returncode}) before the planned kill:\n{self.daemon.smtpd.log_tail()}")
        self.daemon.smtpd.kill()
        stop.set()
        for t in threads:
            t.join(30)
        self.assertGreaterEqual(len(accepted), 50, "too few messages accepted before the kill")
        self.restart()
        stored = {}
        for m in self.daemon.messages("alice@example.test"):
            body = split_trace(m)[1]
            marker = body.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            self.assertNotIn(marker, stored, f"{marker} stored twice")
            stored[marker] = body
        lost = [m for m in accepted if m not in stored]
        self.assertEqual(lost, [], "250'd messages lost by SIGKILL")
        for marker, body in stored.items():
            self.assertIn(marker, sent, "a message nobody sent")
            self.assertEqual(body, sent[marker], f"{marker} stored partially or altered")
        self.assertEqual(self.daemon.stat("alice@example.test")["messages"], len(stored))

    def test_sigterm_during_data(self):
        """Half a body, SIGTERM, the client stalls: 421 4.3.2, exit 0, nothing stored."""
        c = self.client()
        expect(c.ehlo(), "250")
        expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        expect(c.cmd("RCPT TO:<alice@example.test>"), "250")
        expect(c.cmd("DATA"), "354")
        c.send(b"Subject: half\r\n\r\n" + b"first half of the body\r\n" * 200)
        time.sleep(0.3)
        start = time.monotonic()
        self.daemon.smtpd.signal(signal.SIGTERM)
        rc = self.daemon.smtpd.wait(SHUTDOWN_TIMEOUT + 15)
        elapsed = time.monotonic() - start
        self.assertIsNotNone(rc, f"still running {SHUTDOWN_TIMEOUT + 15}s after SIGTERM")
        self.assertEqual(rc, 0, self.daemon.smtpd.log_tail())
        try:
            r = c.reply(timeout=5)
        except (ConnectionClosed, OSError) as e:
            self.fail(f"closed without 421 4.3.2: {e!r}")
        expect(r, "421", "4.3.2")
        self.assertLess(elapsed, SHUTDOWN_TIMEOUT + 10)
        self.restart()
        self.assertEqual(self.daemon.count("alice@example.test"), 0, "half a message was stored")
        self.assertEqual(self.daemon.stat("alice@example.test")["messages"], 0)

    def test_sigterm_lets_transaction_finish(self):
        """SIGTERM during DATA, the client finishes in time: 250, stored, exit 0."""
        c = self.client()
        expect(c.ehlo(), "250")
        expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        expect(c.cmd("RCPT TO:<bob@example.test>"), "250")
        expect(c.cmd("DATA"), "354")
        body = message("finished after sigterm", body="second half\r\n" * 50)
        c.send(body[:60])
        time.sleep(0.3)
        self.daemon.smtpd.signal(signal.SIGTERM)
        time.sleep(1.0)
        # No longer accepting: a new client gets no greeting.
        try:
            late = SmtpClient(self.daemon.smtp_port, timeout=3, greeting=False)
            try:
                r = late.reply(timeout=3)
                self.assertNotEqual(r.code, 220, "greeted a new client after SIGTERM")
            except (ConnectionClosed, OSError):
                pass
            finally:
                late.close()
        except OSError:
            pass  # refused: the listener is closed
        c.send(body[60:] + b".\r\n")
        expect(c.reply(), "250", "2.0.0")
        rc = self.daemon.smtpd.wait(SHUTDOWN_TIMEOUT + 15)
        self.assertEqual(rc, 0, self.daemon.smtpd.log_tail())
        self.restart()
        self.assertEqual([split_trace(m)[1] for m in self.daemon.messages("bob@example.test")], [body])

    def test_sigterm_idle_session(self):
        """Sessions between transactions get 421 and the daemon exits 0 promptly."""
        idle = self.client()
        expect(idle.ehlo(), "250")
        start = time.monotonic()
        self.daemon.smtpd.signal(signal.SIGTERM)
        try:
            r = idle.reply(timeout=SHUTDOWN_TIMEOUT + 10)
        except (ConnectionClosed, OSError) as e:
            self.fail(f"idle session closed without 421: {e!r}")
        expect(r, "421")
        rc = self.daemon.smtpd.wait(SHUTDOWN_TIMEOUT + 15)
        self.assertEqual(rc, 0, self.daemon.smtpd.log_tail())
        self.assertLess(time.monotonic() - start, SHUTDOWN_TIMEOUT + 10)

    def test_sigint_exits_zero(self):
        self.daemon.smtpd.signal(signal.SIGINT)
        self.assertEqual(self.daemon.smtpd.wait(SHUTDOWN_TIMEOUT + 15), 0, self.daemon.smtpd.log_tail())

    def test_restart_keeps_serving(self):
        """After a SIGTERM and a restart the store is consistent and usable."""
        c = self.client()
        expect(c.ehlo(), "250")
        expect(c.transaction("sender@remote.test", ["carol@example.org"], message("one")), "250")
        c.cmd("QUIT")
        self.assertEqual(self.daemon.stop(), 0)
        self.restart()
        c = self.client()
        expect(c.ehlo(), "250")
        expect(c.transaction("sender@remote.test", ["carol@example.org"], message("two")), "250")
        self.assertEqual([split_trace(m)[1] for m in self.daemon.messages("carol@example.org")],
                         [message("one"), message("two")])


# Holds LMDB's write lock (a write transaction, never committed) until a line
# arrives on stdin: the daemon's writer then waits in its commit.
HOLD_WRITE_LOCK = r"""
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=int(sys.argv[2]), max_dbs=16, subdir=True, create=False)
txn = env.begin(write=True)
print("held", flush=True)
sys.stdin.readline()
txn.abort()
env.close()
"""


def memcheck():
    """valgrind's memcheck as a wrapper when it is installed (exit 99 on an
    invalid access), so that a use after free shows without a sanitizer
    build; none otherwise (a sanitizer build still catches it)."""
    valgrind = shutil.which("valgrind")
    if not valgrind or sanitized_build():
        return ()
    return (valgrind, "-q", "--error-exitcode=99")


class LateCommitTest(unittest.TestCase):
    """Issue 11 item 5: a commit still running when the grace period is over
    completes after the I/O threads stopped. The writer must drain while the
    io_context its completion is posted to still exists."""

    def setUp(self):
        wrapper = memcheck()
        self.daemon = smtpd_daemon("late-commit", smtpd={"shutdown_timeout": "1s"}, wrapper=wrapper)
        self.addCleanup(self.daemon.cleanup)
        standard_population(self.daemon)
        self.daemon.start(timeout=60 if wrapper else 30)

    def test_commit_finishing_after_the_io_threads_stopped(self):
        holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(self.daemon.store_path),
                                   str(256 << 20)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        def stop_holder():
            holder.kill()
            holder.communicate(timeout=10)  # closes its pipes
        self.addCleanup(stop_holder)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        c = self.daemon.client()
        self.addCleanup(c.close)
        expect(c.ehlo(), "250")
        expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        expect(c.cmd("RCPT TO:<carol@example.org>"), "250")
        expect(c.cmd("DATA"), "354")
        c.send(message("late commit") + b".\r\n")  # its commit waits for the lock
        time.sleep(0.5)
        self.daemon.smtpd.signal(signal.SIGTERM)
        # 1 s of grace, 10 s for goodbyes, then the I/O threads stop.
        deadline = time.monotonic() + 30
        while ": stopped" not in self.daemon.smtpd.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(": stopped", self.daemon.smtpd.log(), "the I/O threads never stopped")
        time.sleep(0.5)  # whatever comes after run() gets going
        holder.stdin.write("release\n")
        holder.stdin.flush()
        self.assertEqual(holder.wait(timeout=10), 0)
        rc = self.daemon.smtpd.wait(20)
        self.assertEqual(rc, 0, f"exit {rc} after the late commit:\n{self.daemon.smtpd.log_tail()}")
        stored = [split_trace(m)[1] for m in self.daemon.messages("carol@example.org")]
        self.assertEqual(stored, [message("late commit")], "the late commit is not stored exactly once")


if __name__ == "__main__":
    unittest.main()
