"""Child processes with their logs, their memory, and bounded waiting."""

import os
import signal
import subprocess
import time
from pathlib import Path


def die_with_parent():
    """In the child before exec: SIGKILL when the test process goes away,
    so that a killed test run (ctest timeout) leaves no daemons behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort
        pass


class Proc:
    """One child process with its log file (stdout and stderr, appended).

    prepare: a function run in the child before exec (after die_with_parent),
    e.g. to lower a resource limit. with_parent=False starts it as an init
    system would, without a death signal and without Python in the child."""

    def __init__(self, name, argv, log_path, prepare=None, with_parent=True):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.prepare = prepare
        self.with_parent = with_parent
        self.proc = None

    def _child_setup(self):
        if self.with_parent:
            die_with_parent()
        if self.prepare:
            self.prepare()

    def start(self, env=None):
        """env: variables added to the test's environment for this process."""
        assert not self.alive(), f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=self._child_setup if self.with_parent or self.prepare else None,
                                         env=None if env is None else {**os.environ, **env})

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """The exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def terminate(self):
        """SIGTERM if it runs."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def reap(self, timeout=20.0):
        """The exit code after terminate(), SIGKILL after timeout (then a
        string); None if it never ran."""
        if self.proc is None:
            return None
        if self.wait(timeout) is None:
            self.kill()
            return "killed after SIGTERM timeout"
        return self.proc.returncode

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL after timeout; the exit code or a string."""
        self.terminate()
        return self.reap(timeout)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(self.log().splitlines()[-n:])

    def rss_anon_kib(self):
        return rss_anon_kib(self.pid)


def rss_anon_kib(pid):
    """RssAnon of a process in KiB (anonymous memory, not the LMDB map)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/PID/status")


def settled_rss_kib(pid, step=0.25, timeout=5.0):
    """RssAnon once it stopped changing by 64 KiB a step (bounded)."""
    last = rss_anon_kib(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(step)
        now = rss_anon_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


def poll(predicate, timeout, interval=0.05):
    """predicate() until it returns a true value (returned) or timeout
    seconds passed: then the last value it returned."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return value
