"""test_crash.py - the UPDATE state under SIGKILL, stale locks, SIGTERM.

SIGKILL of aviary-pop3d while a QUIT deletes 300 messages: after a restart
either all 300 are gone or none (never some), the store is consistent
(message counts, quota usage, body reference counts), and the dead
session's lock does not block the next login. A +OK to QUIT means the
deletions are durable. SIGTERM: exit 0; sessions in TRANSACTION state end
without applying their deletions.
"""

import signal
import time
import unittest

from aviary_test.pop3_case import Pop3TestCase, pop3_message
from aviary_test.smtp import ConnectionClosed

N = 300
SHUTDOWN_TIMEOUT = 3  # seconds, the fixture's pop3d.shutdown_timeout


class CrashTest(Pop3TestCase):

    pop3d_options = {"allow_plaintext_auth": True, "shutdown_timeout": f"{SHUTDOWN_TIMEOUT}s"}

    def fill(self, user, n, tag):
        self.host.deliver_many(user, [pop3_message(f"{tag} {i}", body=f"message {i} of {n}\r\n" * 5)
                                      for i in range(n)])

    def kill_and_restart(self):
        self.host.pop3d.kill()
        self.host.restart_pop3d()

    def first_login(self, user, pw):
        """The first login after a restart must succeed: no stale lock."""
        c = self.pop3()
        r = c.user_pass(user, pw)
        self.assertOk(r, "the first login after SIGKILL and restart (stale lock?)")
        return c

    def test_sigkill_during_quit_all_or_nothing(self):
        user, pw = self.new_user()
        outcomes = []
        for delay in (0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.015, 0.03, 0.06):
            if not self.host.messages(user):
                self.fill(user, N, f"round {len(outcomes)}")
            self.assertEqual(len(self.host.messages(user)), N)
            c = self.session(user, pw)
            c.send("".join(f"DELE {n}\r\n" for n in range(1, N + 1)))
            for n in range(1, N + 1):
                self.assertOk(c.response(), f"DELE {n}")
            c.send("QUIT\r\n")
            if delay:
                time.sleep(delay)
            self.host.pop3d.kill()
            c.wait_closed(5)
            quit_ok = c.pending().startswith(b"+OK")
            c.close()
            self.host.restart_pop3d()
            left = len(self.host.messages(user))
            outcomes.append((delay, quit_ok, left))
            self.assertIn(left, (0, N), f"SIGKILL {delay * 1000:.1f}ms into QUIT left {left} of {N} "
                                        f"messages (outcomes so far: {outcomes})")
            if quit_ok:
                self.assertEqual(left, 0, "+OK to QUIT, but the deletions did not survive SIGKILL")
            self.assertConsistent()
            c2 = self.first_login(user, pw)
            self.assertEqual(c2.stat()[0], left)
            c2.quit()
        print(f"\n(delay s, +OK seen, messages left): {outcomes}")

    def test_quit_ok_is_durable(self):
        user, pw = self.new_user()
        self.fill(user, 20, "durable")
        c = self.session(user, pw)
        for n in range(1, 21):
            self.assertOk(c.cmd(f"DELE {n}"))
        self.assertOk(c.cmd("QUIT"))
        self.host.pop3d.kill()  # at once
        self.host.restart_pop3d()
        self.assertEqual(self.host.messages(user), [], "deletions acknowledged by +OK were lost")
        self.assertConsistent()

    def test_stale_lock_after_sigkill_in_transaction(self):
        user, pw = self.new_user()
        self.fill(user, 3, "stale")
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        self.kill_and_restart()
        c.close()
        c2 = self.first_login(user, pw)
        self.assertEqual(c2.stat()[0], 3, "a killed session's DELE was applied")
        c2.quit()
        self.assertConsistent()


class SigtermTest(Pop3TestCase):

    pop3d_options = {"allow_plaintext_auth": True, "shutdown_timeout": f"{SHUTDOWN_TIMEOUT}s"}

    def tearDown(self):
        # these tests stop the daemon and check its exit status themselves
        if not self.host.pop3d.alive():
            self.host.restart_pop3d()

    def test_sigterm_idle_daemon_exits_0(self):
        t0 = time.monotonic()
        self.host.pop3d.signal(signal.SIGTERM)
        rc = self.host.pop3d.wait(SHUTDOWN_TIMEOUT + 10)
        self.assertEqual(rc, 0, f"exit status on SIGTERM:\n{self.host.pop3d.log_tail()}")
        self.assertLess(time.monotonic() - t0, SHUTDOWN_TIMEOUT + 2)
        self.host.restart_pop3d()

    def test_sigterm_with_sessions(self):
        user, pw, datas = self.mailbox_with(3)
        other, opw, _ = self.mailbox_with(1)
        busy = self.session(user, pw)
        self.assertOk(busy.cmd("DELE 1"))
        self.assertOk(busy.cmd("DELE 3"))
        waiting = self.pop3()           # AUTHORIZATION state
        tls = self.pop3s()              # implicit TLS, logged in, nothing marked
        tls.login(other, opw)
        t0 = time.monotonic()
        self.host.pop3d.signal(signal.SIGTERM)
        rc = self.host.pop3d.wait(SHUTDOWN_TIMEOUT + 10)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, f"exit status on SIGTERM with sessions:\n{self.host.pop3d.log_tail()}")
        self.assertLess(elapsed, SHUTDOWN_TIMEOUT + 5, "shutdown took longer than shutdown_timeout")
        for name, c in (("TRANSACTION", busy), ("AUTHORIZATION", waiting), ("POP3S", tls)):
            self.assertTrue(c.wait_closed(2), f"the {name} session still open after exit")
            rest = c.pending()
            if rest:
                self.assertRegex(rest, rb"^-ERR[^\r\n]*\r\n$", f"the last words to the {name} session")
        self.assertEqual(len(self.host.messages(user)), 3, "SIGTERM applied a session's deletions")
        self.assertEqual(len(self.host.messages(other)), 1)
        self.assertConsistent()
        self.host.restart_pop3d()
        c = self.pop3()
        self.assertOk(c.user_pass(user, pw), "login after the restart")
        self.assertEqual(c.stat()[0], 3)
        c.quit()

    def test_no_new_sessions_after_sigterm(self):
        user, pw = self.new_user()
        busy = self.session(user, pw)  # keeps the daemon in its shutdown for a moment
        self.host.pop3d.signal(signal.SIGTERM)
        time.sleep(0.5)
        if self.host.pop3d.alive():
            try:
                c = self.pop3(greeting=False, timeout=5)
                try:
                    r = c.response(timeout=5)
                    self.assertFalse(r.ok, "a new connection greeted +OK after SIGTERM")
                except (ConnectionClosed, OSError):
                    pass
            except OSError:
                pass  # refused: the listener is closed
        self.assertEqual(self.host.pop3d.wait(SHUTDOWN_TIMEOUT + 10), 0)
        busy.close()
        self.host.restart_pop3d()


if __name__ == "__main__":
    unittest.main()
