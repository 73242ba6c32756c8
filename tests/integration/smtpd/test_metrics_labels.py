"""test_metrics_labels.py - every labelled series from the first scrape (issue 11 item 33).

A restarted aviary-smtpd exports each SPEC.md family with all its known label
values at 0 before any traffic: a `rate()` or ratio over a series that only
appears on its first event is blind right after every restart.
"""

import unittest

from aviary_test.metrics import parse
from aviary_test.smtpd_case import SmtpdTestCase

KNOWN = {
    "aviary_smtpd_connections_total": ("listener", {"smtp", "submission", "submissions"}),
    "aviary_smtpd_sessions_active": ("listener", {"smtp", "submission", "submissions"}),
    "aviary_smtpd_messages_received_total": ("listener", {"smtp", "submission", "submissions"}),
    "aviary_smtpd_messages_rejected_total": ("reason", {"size", "bare_line_end", "hops", "quota", "storage"}),
    "aviary_smtpd_recipients_total": ("disposition", {"local", "relay", "rejected"}),
    "aviary_smtpd_auth_attempts_total": ("result", {"success", "failure", "throttled"}),
    "aviary_delivery_attempts_total": ("result", {"delivered", "deferred", "bounced"}),
}
UNLABELLED = ("aviary_smtpd_message_size_bytes_count", "aviary_queue_messages", "aviary_queue_oldest_age_seconds",
              "aviary_delivery_duration_seconds_count", "aviary_storage_commit_duration_seconds_count")


class FirstScrapeTest(SmtpdTestCase):

    def restart(self):
        self.assertEqual(self.daemon.stop(timeout=30), 0, self.daemon.smtpd.log_tail())
        self.daemon.start()

    def assert_all_series(self, samples):
        for name, (label, values) in KNOWN.items():
            seen = {dict(l).get(label) for (n, l) in samples if n == name}
            self.assertTrue(values <= seen, f"{name}: missing {sorted(values - seen)} (have {sorted(seen - {None})})")
        for name in UNLABELLED:
            self.assertTrue(any(n == name for (n, _) in samples), f"{name} missing")

    def test_known_series_exist_at_zero_after_a_restart(self):
        # Traffic before the restart, so that the store is not new.
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@remote.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(b"Subject: bare lf\r\n\r\nbad\nline\r\n.\r\n")
        self.assertEqual(c.reply().code, 550)
        c.cmd("QUIT")
        c.close()
        self.restart()
        samples, _ = parse(self.daemon.metrics_text())
        self.assert_all_series(samples)
        rejected = {dict(l)["reason"]: v for (n, l), v in samples.items()
                    if n == "aviary_smtpd_messages_rejected_total"}
        self.assertTrue(all(v == 0 for v in rejected.values()), rejected)


if __name__ == "__main__":
    unittest.main()
