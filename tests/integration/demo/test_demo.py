"""test_demo.py - the README's run command (tools/demo.sh) as a new user runs it.

Starts the script on the real programs (AVIARY_BIN, so it does not build),
waits for its instructions, runs the swaks and curl lines it prints, checks
that the mail came out as it went in, and stops it with Ctrl-C (SIGINT).
The demo's ports are fixed by SPEC.md, so this is the only test using them.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class DemoTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aviary-demo-")
        env = dict(os.environ, AVIARY_DEMO_DIR=self.dir)
        self.proc = subprocess.Popen(["bash", str(ROOT / "tools/demo.sh")], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.output = []

    def tearDown(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def read_until(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if re.search(pattern, line):
                return line
        self.fail(f"demo.sh never printed {pattern!r}:\n{''.join(self.output)}")

    def test_send_with_swaks_and_fetch_with_curl(self):
        self.read_until(r"Look at the metrics")
        text = "".join(self.output)
        self.assertRegex(text, r"alice@example\.test \S+")
        self.assertRegex(text, r"bob@example\.org \S+")
        swaks = re.search(r"^\s+(swaks .*)$", text, re.M).group(1)
        curl = re.search(r"^\s+(curl --cacert .*)$", text, re.M).group(1)

        sent = subprocess.run(swaks + " --header 'Subject: demo check' --body 'hello from the demo test'",
                              shell=True, capture_output=True, text=True, timeout=60)
        self.assertEqual(sent.returncode, 0, sent.stdout + sent.stderr)
        self.assertIn("250 2.0.0 Ok: queued as", sent.stdout)

        fetched = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=60)
        self.assertEqual(fetched.returncode, 0, fetched.stderr)
        self.assertIn("Subject: demo check", fetched.stdout)
        self.assertIn("hello from the demo test", fetched.stdout)
        self.assertIn("Delivered-To: alice@example.test", fetched.stdout)

        # Ctrl-C stops both daemons and the script.
        os.killpg(self.proc.pid, signal.SIGINT)
        self.assertEqual(self.proc.wait(timeout=60), 0)


if __name__ == "__main__":
    unittest.main()
