"""The unittest base classes of the suites' test cases: assertions and
waiting (AviaryTestCase), one Aviary setup per test class (SetupTestCase)."""

import time
import unittest

from aviary_test.processes import poll
from aviary_test.smtp import expect


class AviaryTestCase(unittest.TestCase):
    """Assertions and waiting shared by the suites; logs() (every daemon's
    log tail) goes into the failure messages."""

    wait_timeout = 10.0
    wait_interval = 0.05

    def logs(self):
        return ""

    def assertReply(self, reply, code, enhanced=None, fragment=None, what=""):
        try:
            expect(reply, code, enhanced, fragment, what)
        except AssertionError as e:
            raise self.failureException(str(e)) from None

    def assertClosed(self, c, timeout=10.0, what="the server did not close the connection"):
        self.assertTrue(c.wait_closed(timeout), what)

    def wait_for(self, predicate, what="condition", timeout=None, interval=None):
        """Polls predicate until it returns a true value (returned); fails with
        every log after timeout. `what` may be a callable (asked at the end)."""
        timeout = self.wait_timeout if timeout is None else timeout
        value = poll(predicate, timeout, self.wait_interval if interval is None else interval)
        if value:
            return value
        what = what() if callable(what) else what
        self.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})\n{self.logs()}")


class SetupTestCase(AviaryTestCase):
    """One Aviary setup per test class, in cls.daemon: made by make_setup(),
    populated before the daemons start, prepared after. `watched` names the
    daemon whose death fails a test and which must exit 0 on SIGTERM."""

    daemon = None
    watched = "smtpd"
    start_pop3d = False

    @classmethod
    def make_setup(cls):
        raise NotImplementedError

    @classmethod
    def populate(cls, d):
        """Before the daemons start."""

    @classmethod
    def prepare(cls, d):
        """After the daemons started (e.g. deliveries shared by the class)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = cls.make_setup()
        try:
            cls.populate(cls.daemon)
            cls.daemon.start(pop3d=cls.start_pop3d)
            cls.prepare(cls.daemon)
        except BaseException:
            print(cls.daemon.logs())
            cls.daemon.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_and_check(cls.daemon, cls.watched)

    def logs(self):
        return self.daemon.logs()

    def watched_proc(self):
        return getattr(self.daemon, self.watched)

    def tearDown(self):
        self.assertDaemonAlive()

    def assertDaemonAlive(self, settle=0.0):
        """Fails if the watched daemon has exited (after `settle` seconds, so
        that a crash that just closed our connection is seen)."""
        if settle:
            time.sleep(settle)
        proc = self.watched_proc()
        if not proc.alive():
            self.fail(f"{proc.name} died (exit {proc.returncode}):\n{proc.log_tail()}")


def stop_and_check(d, watched="smtpd", timeout=30):
    """SIGTERM to every daemon of d; the watched one must exit 0 if it was
    running. d is cleaned up in any case."""
    proc = getattr(d, watched)
    try:
        alive = proc.alive()
        rc = d.stop_all(timeout)[proc]
        if alive and rc != 0:
            raise AssertionError(f"{proc.name} exited {rc} on SIGTERM:\n{proc.log_tail()}")
    finally:
        d.cleanup()
