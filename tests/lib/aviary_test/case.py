"""The unittest base class every suite's test case class derives from."""

import time
import unittest

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
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(self.wait_interval if interval is None else interval)
        what = what() if callable(what) else what
        self.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})\n{self.logs()}")
