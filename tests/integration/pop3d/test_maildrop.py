"""test_maildrop.py - the maildrop: snapshot at login, one session per
maildrop (also across processes), DELE/RSET/QUIT, dropped connections,
stable and unique UIDLs, quota usage and shared bodies after QUIT, the idle
timeout.
"""

import time
import unittest

from aviary_test.messages import split_trace
from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import Pop3TestCase, pop3_message
from aviary_test.smtp import SmtpClient, expect


def login_when_free(test, user, password, timeout=10.0, **kw):
    """Logs in, retrying while the answer is [IN-USE] (a closed session's
    lock may take a moment to go); fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        c = test.pop3s(**kw)
        r = c.user_pass(user, password)
        if r.ok:
            return c
        last = r
        c.close()
        if r.code != "IN-USE":
            test.fail(f"login of {user}: {r!r}")
        time.sleep(0.1)
    test.fail(f"{user} still [IN-USE] {timeout}s after its session ended: {last!r}")


class SnapshotTest(Pop3TestCase):

    def test_mail_arriving_during_session_is_not_shown(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        stat = c.stat()
        uids = c.uidl()
        new = pop3_message("arrived during the session")
        self.host.deliver(user, new)
        self.assertEqual(len(self.host.messages(user)), 3, "the delivery was not stored")
        self.assertEqual(c.stat(), stat, "STAT changed during the session")
        self.assertEqual(c.uidl(), uids, "UIDL changed during the session")
        self.assertNotIn(3, c.list())
        for line in ("RETR 3", "LIST 3", "UIDL 3", "TOP 3 0", "DELE 3"):
            self.assertErr(c.cmd(line), what=f"{line} of a message that arrived after login")
        self.assertOk(c.cmd("RSET"))
        self.assertEqual(c.stat(), stat, "RSET re-read the maildrop")
        c.quit()
        c2 = self.session(user, pw)
        self.assertEqual(c2.stat()[0], 3)
        self.assertEqual(split_trace(c2.retr(3))[1], new)
        c2.quit()

    def test_quit_deletes_only_marked_messages(self):
        """Deleting every message of the snapshot leaves the one that came later."""
        user, pw, datas = self.mailbox_with(3)
        c = self.session(user, pw)
        for n in (1, 2, 3):
            self.assertOk(c.cmd(f"DELE {n}"))
        late = pop3_message("late arrival")
        self.host.deliver(user, late)
        c.quit()
        self.assertEqual([split_trace(m)[1] for m in self.host.messages(user)], [late])
        self.assertConsistent()


class DeletionTest(Pop3TestCase):

    def test_dropped_connection_deletes_nothing(self):
        user, pw, datas = self.mailbox_with(3)
        before = self.host.messages(user)
        c = self.session(user, pw)
        for n in (1, 2, 3):
            self.assertOk(c.cmd(f"DELE {n}"))
        c.close()  # FIN, no QUIT
        c2 = login_when_free(self, user, pw)
        self.assertEqual(c2.stat()[0], 3, "a dropped connection deleted messages")
        c2.quit()
        self.assertEqual(self.host.messages(user), before)

    def test_reset_connection_deletes_nothing(self):
        user, pw, datas = self.mailbox_with(2)
        before = self.host.messages(user)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        c.send("QUI")  # half a QUIT, then a TCP reset
        c.abort()
        c2 = login_when_free(self, user, pw)
        self.assertEqual(c2.stat()[0], 2, "a reset connection deleted messages")
        c2.quit()
        self.assertEqual(self.host.messages(user), before)

    def test_quit_updates_quota_usage(self):
        """After QUIT the usage drops: mail refused for quota is accepted again."""
        user, pw = self.new_user()
        self.host.ctl("user", "quota", user, "4KiB")
        body = "q" * 70 + "\r\n"
        accepted = 0
        full = False
        with SmtpClient(self.host.smtp_port, timeout=30, source="127.0.0.254") as s:
            expect(s.ehlo(), "250")
            for i in range(20):
                expect(s.cmd("MAIL FROM:<sender@remote.test>"), "250")
                r = s.cmd(f"RCPT TO:<{user}>")
                if r.code != 250:
                    expect(r, "552", what="RCPT over quota")
                    full = True
                    break
                expect(s.cmd("DATA"), "354")
                s.send(pop3_message(f"quota {i}", body=body * 10) + b".\r\n")
                r = s.reply()
                if r.code != 250:
                    expect(r, "552", what="end of DATA over quota")
                    full = True
                    break
                accepted += 1
        self.assertTrue(full, "the quota never filled")
        self.assertGreater(accepted, 0)
        stat = self.host.stat(user)
        self.assertEqual(stat["messages"], accepted)
        c = self.session(user, pw)
        self.assertEqual(c.stat(), (accepted, stat["bytes"]))
        for n in range(1, accepted + 1):
            self.assertOk(c.cmd(f"DELE {n}"))
        c.quit()
        stat = self.host.stat(user)
        self.assertEqual((stat["messages"], stat["bytes"]), (0, 0), f"after QUIT: {stat}")
        self.host.deliver(user, pop3_message("after the quit", body=body * 10))
        self.assertConsistent()

    def test_shared_body_reference_counts(self):
        """One delivery to two users shares a body; each QUIT drops one reference."""
        a, pa = self.new_user()
        b, pb = self.new_user()
        alias = "pair-" + a.split("@")[0] + "@example.test"
        self.host.add_alias(alias, a, b)
        sent = pop3_message("shared", body="shared body\r\n" * 50)
        self.host.deliver(alias, sent)
        self.assertConsistent()
        ca = self.session(a, pa)
        self.assertEqual(split_trace(ca.retr(1))[1], sent)
        self.assertOk(ca.cmd("DELE 1"))
        ca.quit()
        self.assertEqual(self.host.messages(a), [])
        self.assertConsistent()
        cb = self.session(b, pb)
        self.assertEqual(split_trace(cb.retr(1))[1], sent, "the other copy lost its body")
        self.assertOk(cb.cmd("DELE 1"))
        cb.quit()
        self.assertConsistent()
        meta, data = self.host.store.blobs()
        refs = self.host.store.mailbox_refs()
        self.assertEqual(set(meta), set(refs), "a body without references is left in the store")

    def test_quit_after_user_recreated_leaves_new_users_mail(self):
        """Issue 11 item 3: the user is deleted and created again while a
        session is open; that session's QUIT must not delete the new user's
        mail (UPDATE is keyed by user id, not by address)."""
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        self.host.ctl("user", "del", user)
        self.host.add_user(user, pw)
        fresh = [pop3_message("for the new user 1"), pop3_message("for the new user 2")]
        for m in fresh:
            self.host.deliver(user, m)
        self.assertEqual(len(self.host.messages(user)), 2, "the deliveries were not stored")
        c.quit()
        self.assertEqual([split_trace(m)[1] for m in self.host.messages(user)], fresh,
                         "the old session's QUIT deleted the new user's mail")
        c2 = login_when_free(self, user, pw)
        self.assertEqual(c2.stat()[0], 2)
        c2.quit()
        self.assertConsistent()

    def test_dele_twice_and_rset_then_quit(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 2"))
        self.assertErr(c.cmd("DELE 2"), what="DELE of a deleted message")
        self.assertOk(c.cmd("RSET"))
        self.assertOk(c.cmd("DELE 1"))
        c.quit()
        self.assertEqual([split_trace(m)[1] for m in self.host.messages(user)], [datas[1]])


class UidlTest(Pop3TestCase):

    def test_stable_across_sessions_and_deletions(self):
        user, pw, datas = self.mailbox_with(4)
        c = self.session(user, pw)
        first = c.uidl()
        c.quit()
        self.assertEqual(len(set(first.values())), 4, f"not unique: {first}")
        c = self.session(user, pw)
        self.assertEqual(c.uidl(), first, "UIDL changed between sessions")
        by_uid = {uid: split_trace(c.retr(n))[1] for n, uid in first.items()}
        self.assertOk(c.cmd("DELE 2"))
        self.assertOk(c.cmd("DELE 3"))
        c.quit()
        c = self.session(user, pw)
        now = c.uidl()
        self.assertEqual(list(now.values()), [first[1], first[4]], "UIDLs moved after deletions")
        for n, uid in now.items():
            self.assertEqual(split_trace(c.retr(n))[1], by_uid[uid], f"UIDL {uid} names another message")
        c.quit()

    def test_never_reused(self):
        user, pw, datas = self.mailbox_with(2)
        seen = set()
        for round_ in range(3):
            c = self.session(user, pw)
            uids = c.uidl()
            for n in uids:
                self.assertOk(c.cmd(f"DELE {n}"))
            c.quit()
            new = set(uids.values())
            self.assertFalse(new & seen, f"a UIDL was reused: {new & seen}")
            seen |= new
            # the same messages again: new messages, new UIDLs
            for d in datas:
                self.host.deliver(user, d)

    def test_unique_between_two_deliveries_of_the_same_message(self):
        user, pw = self.new_user()
        data = pop3_message("identical")
        self.host.deliver(user, data)
        self.host.deliver(user, data)
        c = self.session(user, pw)
        uids = c.uidl()
        self.assertEqual(len(uids), 2)
        self.assertNotEqual(uids[1], uids[2])

    def test_stable_across_restart(self):
        user, pw, datas = self.mailbox_with(3)
        c = self.session(user, pw)
        before = c.uidl()
        c.quit()
        self.assertEqual(self.host.pop3d.stop(), 0)
        self.host.restart_pop3d()
        c = self.session(user, pw)
        self.assertEqual(c.uidl(), before, "UIDLs changed across a daemon restart")
        c.quit()


class InUseTest(Pop3TestCase):

    pop3d_options = {"allow_plaintext_auth": True}

    def test_second_login_in_use(self):
        user, pw, datas = self.mailbox_with(1)
        a = self.session(user, pw)
        b = self.pop3(source="127.0.0.230")
        self.assertErr(b.user_pass(user, pw), "IN-USE", "second USER/PASS login")
        self.assertErr(b.auth_plain(user, pw), "IN-USE", "second AUTH PLAIN login")
        self.assertErr(b.cmd("STAT"), what="the refused session is not logged in")
        c = self.pop3s(source="127.0.0.231")
        self.assertErr(c.user_pass(user, pw), "IN-USE", "second login over POP3S")
        self.assertOk(a.cmd("DELE 1"))
        a.quit()
        self.assertClosed(a)
        # the refused session is still in AUTHORIZATION state and may retry
        deadline = time.monotonic() + 10
        while True:
            r = b.user_pass(user, pw)
            if r.ok or time.monotonic() > deadline:
                break
            self.assertEqual(r.code, "IN-USE", repr(r))
            time.sleep(0.1)
        self.assertOk(r, "login after the first session quit")
        self.assertEqual(b.stat()[0], 0, "the first session's deletion was not applied")
        b.quit()

    def test_other_maildrops_not_affected(self):
        u1, p1 = self.new_user()
        u2, p2 = self.new_user()
        a = self.session(u1, p1)
        b = self.session(u2, p2)
        self.assertOk(a.cmd("NOOP"))
        self.assertOk(b.cmd("NOOP"))
        a.quit()
        b.quit()

    def test_in_use_across_processes(self):
        user, pw, datas = self.mailbox_with(2)
        proc2, port2 = self.host.second_pop3d()
        try:
            a = self.session(user, pw)
            b = Pop3Client(port2, source=self.ip)
            self.addCleanup(b.close)
            self.assertErr(b.user_pass(user, pw), "IN-USE", "login on a second process")
            self.assertOk(a.cmd("DELE 1"))
            a.quit()
            deadline = time.monotonic() + 10
            while True:
                r = b.user_pass(user, pw)
                if r.ok or time.monotonic() > deadline:
                    break
                self.assertEqual(r.code, "IN-USE", repr(r))
                time.sleep(0.1)
            self.assertOk(r, "login on the second process after the first session quit")
            self.assertEqual(b.stat()[0], 1, "the second process does not see the committed deletion")
            # and now the first process refuses
            a2 = self.pop3()
            self.assertErr(a2.user_pass(user, pw), "IN-USE", "login on the first process")
            b.quit()
        finally:
            rc = proc2.stop()
            self.assertEqual(rc, 0, f"second aviary-pop3d exit on SIGTERM:\n{proc2.log_tail()}")

    def test_lock_of_killed_process_is_released(self):
        """A session of a process that dies by SIGKILL does not lock the
        maildrop for the other process forever."""
        user, pw, datas = self.mailbox_with(1)
        proc2, port2 = self.host.second_pop3d()
        b = Pop3Client(port2, source=self.ip)
        self.addCleanup(b.close)
        self.assertOk(b.user_pass(user, pw))
        self.assertOk(b.cmd("DELE 1"))
        proc2.kill()
        c = login_when_free(self, user, pw, timeout=30)
        self.assertEqual(c.stat()[0], 1, "the killed session's DELE was applied")
        c.quit()


class IdleTimeoutTest(Pop3TestCase):
    """idle_timeout = 2s."""

    pop3d_options = {"idle_timeout": "2s", "allow_plaintext_auth": True}

    def assertClosesAfterIdle(self, c):
        t0 = time.monotonic()
        if not c.wait_closed(12.0):
            self.fail("an idle session was not closed within 12s (idle_timeout = 2s)")
        elapsed = time.monotonic() - t0
        self.assertDaemonAlive(settle=0.3)
        self.assertGreater(elapsed, 1.5, f"closed after {elapsed:.2f}s, before idle_timeout")
        rest = c.pending()
        if rest:  # anything sent before the close must be one -ERR line
            self.assertRegex(rest, rb"^-ERR[^\r\n]*\r\n$", "the last words of an idle session")

    def test_idle_transaction_closed_without_deleting(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        self.assertClosesAfterIdle(c)
        c2 = login_when_free(self, user, pw)
        self.assertEqual(c2.stat()[0], 2, "an autologout applied the deletions")
        c2.quit()

    def test_idle_authorization_closed(self):
        c = self.pop3()
        self.assertClosesAfterIdle(c)

    def test_partial_line_does_not_keep_session(self):
        c = self.pop3()
        c.send("NOO")
        self.assertClosesAfterIdle(c)

    def test_activity_keeps_session(self):
        user, pw = self.new_user()
        c = self.session(user, pw)
        for _ in range(5):
            time.sleep(1.0)
            self.assertOk(c.cmd("NOOP"), "a session with a command every second")
        c.quit()


if __name__ == "__main__":
    unittest.main()
