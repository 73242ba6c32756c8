"""test_metrics.py - the Prometheus endpoint of aviary-smtpd.

The text passes `promtool check metrics`, carries the metrics SPEC.md names
with the right types and labels, and the counters move with traffic.
"""

import shutil
import subprocess
import unittest

from aviary_test.messages import message
from aviary_test.metrics import metric, parse
from aviary_test.smtpd_case import SmtpdTestCase


def series(samples, name):
    return [dict(l) for (n, l) in samples if n == name]


class MetricsTest(SmtpdTestCase):

    def scrape(self):
        return parse(self.daemon.metrics_text())

    def traffic(self):
        """One accepted message (two local copies), two refused recipients,
        one rejected message."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<nobody@example.test>"), "550")
        self.assertReply(c.cmd("RCPT TO:<someone@elsewhere.test>"), "554")
        self.assertReply(c.cmd("RCPT TO:<team@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(message("metrics", body="x" * 500 + "\r\n") + b".\r\n")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<alice@example.test>"), "250")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(b"Subject: bare lf\r\n\r\nbad\nline\r\n.\r\n")
        self.assertReply(c.reply(), "550", "5.6.0")
        self.assertReply(c.cmd("QUIT"), "221")
        c.close()

    def test_promtool_check(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.fail("promtool is not installed (Debian package prometheus)")
        self.traffic()  # so that labelled families have samples
        text = self.daemon.metrics_text()
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"promtool check metrics:\n{r.stdout}{r.stderr}\n---\n{text[:3000]}")

    def test_families_and_types(self):
        self.traffic()
        samples, types = self.scrape()
        wanted = {
            "aviary_smtpd_connections_total": "counter",
            "aviary_smtpd_sessions_active": "gauge",
            "aviary_smtpd_messages_received_total": "counter",
            "aviary_smtpd_messages_rejected_total": "counter",
            "aviary_smtpd_recipients_total": "counter",
            "aviary_smtpd_message_size_bytes": "histogram",
            "aviary_storage_commit_duration_seconds": "histogram",
        }
        for name, kind in wanted.items():
            # prometheus-cpp names the family of a counter with or without _total.
            family = types.get(name) or types.get(name.removesuffix("_total"))
            self.assertEqual(family, kind, f"# TYPE of {name}")
        for name in ("aviary_smtpd_connections_total", "aviary_smtpd_messages_received_total",
                     "aviary_smtpd_sessions_active"):
            self.assertTrue(series(samples, name), f"no samples of {name}")
            for labels in series(samples, name):
                self.assertIn("listener", labels, f"{name} without a listener label")
        for labels in series(samples, "aviary_smtpd_recipients_total"):
            self.assertIn(labels.get("disposition"), ("local", "relay", "rejected"), labels)
        for labels in series(samples, "aviary_smtpd_messages_rejected_total"):
            self.assertIn("reason", labels)

    def test_counters_move(self):
        before, _ = self.scrape()
        self.traffic()
        after, _ = self.scrape()

        def moved(name, **labels):
            return metric(after, name, **labels) - metric(before, name, **labels)

        self.assertGreaterEqual(moved("aviary_smtpd_connections_total"), 1)
        self.assertEqual(moved("aviary_smtpd_messages_received_total"), 1)
        self.assertGreaterEqual(moved("aviary_smtpd_recipients_total", disposition="local"), 1)
        self.assertGreaterEqual(moved("aviary_smtpd_recipients_total", disposition="rejected"), 2)
        self.assertEqual(moved("aviary_smtpd_recipients_total", disposition="relay"), 0)
        self.assertGreaterEqual(moved("aviary_smtpd_messages_rejected_total"), 1)
        self.assertGreaterEqual(moved("aviary_smtpd_message_size_bytes_count"), 1)
        self.assertGreater(moved("aviary_smtpd_message_size_bytes_sum"), 500)
        self.assertGreater(metric(after, "aviary_storage_commit_duration_seconds_count"), 0)
        self.assertGreaterEqual(moved("aviary_storage_commit_duration_seconds_count"), 1)

    def test_sessions_active(self):
        def active():
            return metric(self.scrape()[0], "aviary_smtpd_sessions_active")
        self.wait_for(lambda: active() == 0, "no active sessions", 10)
        held = [self.client() for _ in range(3)]
        for c in held:
            self.assertReply(c.ehlo(), "250")
        self.assertEqual(active(), 3)
        for c in held:
            c.cmd("QUIT")
            c.close()
        self.wait_for(lambda: active() == 0, "sessions_active to drop back to 0", 10)


if __name__ == "__main__":
    unittest.main()
