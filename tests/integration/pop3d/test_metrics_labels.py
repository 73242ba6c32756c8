"""test_metrics_labels.py - every labelled series from the first scrape (issue 11 item 33).

A fresh aviary-pop3d exports each SPEC.md family with all its known label
values at 0 before any session: connections by listener, logins by result.
"""

import unittest

from aviary_test.metrics import parse
from aviary_test.pop3_case import Pop3TestCase

KNOWN = {
    "aviary_pop3d_connections_total": ("listener", {"pop3", "pop3s"}),
    "aviary_pop3d_logins_total": ("result", {"success", "failure", "throttled", "in_use"}),
}


class FirstScrapeTest(Pop3TestCase):

    def test_known_series_exist_at_zero(self):
        samples, _ = parse(self.host.metrics_text("pop3d"))
        for name, (label, values) in KNOWN.items():
            seen = {dict(l).get(label): v for (n, l), v in samples.items() if n == name}
            self.assertTrue(values <= set(seen), f"{name}: missing {sorted(values - set(seen))}")
        # The harness's readiness probes connect, but none logs in.
        logins = {dict(l)["result"]: v for (n, l), v in samples.items() if n == "aviary_pop3d_logins_total"}
        self.assertTrue(all(v == 0 for v in logins.values()), logins)


if __name__ == "__main__":
    unittest.main()
