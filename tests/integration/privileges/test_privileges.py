"""test_privileges.py - started as root, the daemons give root up for good.

With `user = "nobody"` both aviary-smtpd and aviary-pop3d must, once their
ports and the store are open, run with nobody's uid and group in all of
real, effective, saved and filesystem ids, in every thread, without
capabilities; and still deliver (a large message, so that the spill
directory is used) and let users log in (which creates a lock file). A
user or group that does not exist stops a daemon before it serves, with
one line on stderr naming it; without `user`, a daemon run as root warns.

Needs root (CI runs as root); skipped otherwise. Uses the pop3d suite's
setup (aviary_test.pop3_case.mailhost).
"""

import grp
import os
import pwd
import signal
import stat
import subprocess
import time
import unittest
from pathlib import Path

from aviary_test.pop3_case import mailhost, pop3_message
from aviary_test.programs import program

IS_ROOT = os.geteuid() == 0
NEEDS_ROOT = "switching users needs root (CI runs the suite as root)"


def unprivileged():
    """(user, uid, group, gid): Debian's nobody and its primary group."""
    pw = pwd.getpwnam("nobody")
    return pw.pw_name, pw.pw_uid, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_gid


def status_ids(pid):
    """{tid: (uids, gids, groups, cap_eff)} of every thread of pid."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = {}
        for line in (task / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.split()
        out[int(task.name)] = ([int(v) for v in fields["Uid"]], [int(v) for v in fields["Gid"]],
                               [int(v) for v in fields.get("Groups", [])], int(fields["CapEff"][0], 16))
    return out


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class DroppedToNobody(unittest.TestCase):
    """Both daemons with user = "nobody" on a store that nobody owns."""

    host = None

    @classmethod
    def setUpClass(cls):
        cls.user, cls.uid, cls.group, cls.gid = unprivileged()
        cls.host = mailhost("privileges", top={"user": cls.user}, pop3d={"allow_plaintext_auth": True})
        h = cls.host
        try:
            h.add_domain("example.test")
            h.add_user("alice@example.test")
            # The setup an installation makes: the store directory belongs to
            # the daemons' user, and its parents let that user through.
            os.chmod(h.dir, 0o755)
            os.chown(h.store_path, cls.uid, cls.gid)
            # A lock file left by an earlier run as root must be handed over.
            locks = h.store_path / "locks"
            locks.mkdir(mode=0o700)
            os.close(os.open(locks / "999.lock", os.O_CREAT | os.O_WRONLY, 0o600))
            h.start(pop3d=True)
        except BaseException:
            print(h.logs())
            h.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        h = cls.host
        try:
            for proc in (h.smtpd, h.pop3d):
                alive = proc.alive()
                rc = proc.stop(timeout=30)
                if alive and rc != 0:
                    raise AssertionError(f"{proc.name} exited {rc} on SIGTERM:\n{proc.log_tail()}")
        finally:
            h.cleanup()

    def tearDown(self):
        for proc in (self.host.smtpd, self.host.pop3d):
            if not proc.alive():
                self.fail(f"{proc.name} died (exit {proc.proc.returncode}):\n{proc.log_tail()}")

    def test_every_thread_runs_as_the_user_and_group(self):
        for proc in (self.host.smtpd, self.host.pop3d):
            threads = status_ids(proc.pid)
            self.assertGreater(len(threads), 1, f"{proc.name}: expected the I/O and writer threads too")
            for tid, (uids, gids, groups, cap_eff) in threads.items():
                what = f"{proc.name} thread {tid}"
                # real, effective, saved set-ID, filesystem
                self.assertEqual(uids, [self.uid] * 4, f"{what}: Uid")
                self.assertEqual(gids, [self.gid] * 4, f"{what}: Gid")
                self.assertNotIn(0, groups, f"{what}: still in group root")
                self.assertEqual(cap_eff, 0, f"{what}: capabilities left")

    def test_umask_keeps_new_files_private(self):
        for proc in (self.host.smtpd, self.host.pop3d):
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
            self.assertEqual(int(fields["Umask"], 8) & 0o027, 0o027, f"{proc.name}: Umask {fields['Umask'].strip()}")

    def test_the_log_says_who_it_runs_as(self):
        for proc in (self.host.smtpd, self.host.pop3d):
            self.assertIn(f"running as user {self.user} (uid {self.uid}), group {self.group} (gid {self.gid})",
                          proc.log(), proc.name)
            self.assertNotIn("running as root", proc.log(), proc.name)

    def test_delivers_and_serves_after_the_drop(self):
        h = self.host
        # Over the 256KiB kept in memory: the body goes through the spill
        # directory, created as root and written as nobody.
        big = pop3_message("big after the drop", body=("y" * 998 + "\r\n") * 400)
        small = pop3_message("small after the drop")
        h.deliver("alice@example.test", big)
        h.deliver("alice@example.test", small)
        with h.pop3(source="127.0.1.1") as c:
            self.assertTrue(c.greeting.ok)
            r = c.login("alice@example.test", h.passwords["alice@example.test"])
            self.assertTrue(r.ok, r)  # creates the user's lock file as nobody
            count, _size = c.stat()
            self.assertGreaterEqual(count, 2)
            retrieved = [c.retr(n) for n in range(1, count + 1)]
            self.assertTrue(any(m.endswith(big) for m in retrieved), "the spilled message came back whole")
            c.quit()

    def test_created_files_belong_to_the_user_and_are_private(self):
        h = self.host
        with h.pop3(source="127.0.1.2") as c:
            self.assertTrue(c.login("alice@example.test", h.passwords["alice@example.test"]).ok)
            c.quit()
        for sub in ("tmp", "locks"):
            st = (h.store_path / sub).stat()
            self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), sub)
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0, f"{sub} is open to other users")
        locks = list((h.store_path / "locks").iterdir())
        self.assertGreaterEqual(len(locks), 2)
        for lock in locks:
            st = lock.stat()
            self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), lock.name)
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0, f"{lock.name} is open to other users")

    def test_reload_reads_the_key_as_the_user(self):
        """After the drop, SIGHUP reads the files as nobody: a key only root
        can read keeps the certificate from the start in use; a key readable
        by the user's group reloads."""
        h = self.host
        h.key.chmod(0o600)

        def hangup(expected):
            before = {p.name: p.log().count(expected) for p in (h.smtpd, h.pop3d)}
            for proc in (h.smtpd, h.pop3d):
                proc.signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            for proc in (h.smtpd, h.pop3d):
                while proc.log().count(expected) <= before[proc.name]:
                    self.assertTrue(proc.alive(), f"{proc.name} died on SIGHUP:\n{proc.log_tail()}")
                    self.assertLess(time.monotonic(), deadline, f"no {expected!r}:\n{proc.log_tail()}")
                    time.sleep(0.05)

        kept = "SIGHUP: keeping the TLS certificate in use"
        hangup(kept)
        for proc in (h.smtpd, h.pop3d):
            line = [l for l in proc.log().splitlines() if kept in l][-1]
            self.assertIn(f"{h.key}: ", line, proc.name)
            self.assertIn("Permission denied", line, proc.name)
        with h.pop3s(source="127.0.1.3") as c:
            self.assertTrue(c.greeting.ok, "the certificate from the start still serves")
        os.chown(h.key, 0, self.gid)
        h.key.chmod(0o640)
        hangup("SIGHUP: reloaded the TLS certificate")
        with h.pop3s(source="127.0.1.3") as c:
            self.assertTrue(c.greeting.ok)


def run_daemon(name, config):
    """Runs a daemon that should stop at once; (exit code, stderr lines)."""
    r = subprocess.run([program(name), "-c", str(config)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stderr.splitlines()


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class UnknownAccounts(unittest.TestCase):
    """A user or group that does not exist: exit non-zero, one line naming it."""

    def check_refused(self, accounts, key, name):
        host = mailhost("unknown", top=accounts)
        self.addCleanup(host.cleanup)
        for daemon in ("aviary-smtpd", "aviary-pop3d"):
            rc, lines = run_daemon(daemon, host.config)
            self.assertNotEqual(rc, 0, f"{daemon} started with {accounts}")
            self.assertEqual(len(lines), 1, f"{daemon}: expected one line on stderr, got {lines}")
            self.assertEqual(lines[0], f'{daemon}: {host.config}: {key}: no such {key} "{name}"')
        # Refused before anything was opened: not even the store.
        self.assertFalse(host.store_path.exists(), "the store was created before the check")

    def test_unknown_user(self):
        self.check_refused({"user": "aviary-test-no-such-user"}, "user", "aviary-test-no-such-user")

    def test_unknown_group(self):
        user = unprivileged()[0]
        self.check_refused({"user": user, "group": "aviary-test-no-such-group"}, "group",
                           "aviary-test-no-such-group")


@unittest.skipUnless(IS_ROOT, NEEDS_ROOT)
class RootWithoutUser(unittest.TestCase):
    """Without `user` a daemon runs as started; as root it says so."""

    def test_warns_when_running_as_root(self):
        host = mailhost("asroot", pop3s=False, metrics=False)
        self.addCleanup(host.cleanup)
        host.add_domain("example.test")
        host.start(pop3d=True)
        for proc in (host.smtpd, host.pop3d):
            warning = [line for line in proc.log().splitlines() if "running as root" in line]
            self.assertEqual(len(warning), 1, f"{proc.name}:\n{proc.log_tail()}")
            self.assertIn("set user in", warning[0])
            uids, _gids, _groups, _caps = status_ids(proc.pid)[proc.pid]
            self.assertEqual(uids, [0] * 4, f"{proc.name} changed user without `user`")
        for proc in (host.smtpd, host.pop3d):
            self.assertEqual(proc.stop(timeout=30), 0, proc.log_tail())


if __name__ == "__main__":
    unittest.main()
