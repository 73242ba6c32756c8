"""test_metrics.py - per-listener labels of the submission listeners.

aviary_smtpd_connections_total, aviary_smtpd_sessions_active and
aviary_smtpd_messages_received_total carry listener="submission" /
"submissions" (and "smtp" for port 25), and each listener's series moves
only with its own traffic; aviary_smtpd_auth_attempts_total{result}.
"""

import shutil
import subprocess
import time
import unittest

from aviary_test.metrics import metric
from aviary_test.submission_case import SubmissionTestCase, plain

LISTENERS = ("smtp", "submission", "submissions")


class ListenerMetricsTest(SubmissionTestCase):

    def counts(self, name):
        samples = self.daemon.metrics()
        return {listener: metric(samples, name, listener=listener) for listener in LISTENERS}

    def wait_sessions_closed(self):
        """Until no session of ours is open (sessions_active back to zero)."""
        def idle():
            samples = self.daemon.metrics()
            return all(metric(samples, "aviary_smtpd_sessions_active", listener=l) == 0 for l in LISTENERS)
        self.wait_for(idle, what="sessions_active to return to 0")

    def send(self, listener):
        c = self.session(listener, user="alice@example.test")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<bob@example.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<out@remote.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: metrics\r\n\r\nmetrics\r\n.\r\n")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.cmd("QUIT"), "221")
        c.wait_closed(5)

    def test_connections_per_listener(self):
        self.wait_sessions_closed()
        before = self.counts("aviary_smtpd_connections_total")
        opened = {"smtp": 1, "submission": 3, "submissions": 2}
        clients = [self.mx()]
        clients += [self.submission() for _ in range(opened["submission"])]
        clients += [self.submissions() for _ in range(opened["submissions"])]
        for c in clients:
            self.assertReply(c.cmd("NOOP"), "250")
        active = self.counts("aviary_smtpd_sessions_active")
        after = self.counts("aviary_smtpd_connections_total")
        self.assertEqual({l: after[l] - before[l] for l in LISTENERS}, opened)
        self.assertEqual(active, {l: float(n) for l, n in opened.items()})
        for c in clients:
            self.assertReply(c.cmd("QUIT"), "221")
            c.wait_closed(5)
        self.wait_sessions_closed()

    def test_messages_received_per_listener(self):
        for listener in ("submission", "submissions"):
            with self.subTest(listener=listener):
                before = self.counts("aviary_smtpd_messages_received_total")
                self.send(listener)
                after = self.counts("aviary_smtpd_messages_received_total")
                want = {l: (1.0 if l == listener else 0.0) for l in LISTENERS}
                self.assertEqual({l: after[l] - before[l] for l in LISTENERS}, want)

    def test_recipient_dispositions(self):
        samples = self.daemon.metrics()
        before = {d: metric(samples, "aviary_smtpd_recipients_total", disposition=d) for d in ("local", "relay")}
        self.send("submission")
        samples = self.daemon.metrics()
        after = {d: metric(samples, "aviary_smtpd_recipients_total", disposition=d) for d in ("local", "relay")}
        self.assertEqual(after["local"] - before["local"], 1)
        self.assertEqual(after["relay"] - before["relay"], 1)

    def test_auth_results(self):
        name = "aviary_smtpd_auth_attempts_total"
        before = self.daemon.metrics()
        c = self.session("submissions")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('bob@example.test')}"), "235")
        c = self.session("submission")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('bob@example.test', 'wrong')}"), "535")
        after = self.daemon.metrics()
        for result, delta in (("success", 1), ("failure", 1), ("throttled", 0)):
            self.assertEqual(metric(after, name, result=result) - metric(before, name, result=result), delta, result)

    def test_promtool_check(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.fail("promtool is not installed (Debian package prometheus)")
        self.send("submissions")
        text = self.daemon.metrics_text()
        for listener in ("submission", "submissions"):
            self.assertIn(f'listener="{listener}"', text)
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"promtool check metrics:\n{r.stdout}{r.stderr}")


if __name__ == "__main__":
    unittest.main()
