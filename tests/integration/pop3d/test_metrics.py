"""test_metrics.py - the Prometheus endpoint of aviary-pop3d (pop3d.metrics).

The text passes `promtool check metrics` (Debian package prometheus), has
the families SPEC.md names with the right types and labels, and the
counters move as sessions connect, log in, retrieve and delete.
"""

import shutil
import subprocess
import unittest
import urllib.error
import urllib.request

from aviary_test.metrics import by_label, metric, parse
from aviary_test.pop3_case import Pop3TestCase

FAMILIES = {
    "aviary_pop3d_connections_total": ("counter", {"listener"}),
    "aviary_pop3d_sessions_active": ("gauge", set()),
    "aviary_pop3d_logins_total": ("counter", {"result"}),
    "aviary_pop3d_messages_retrieved_total": ("counter", set()),
    "aviary_pop3d_bytes_sent_total": ("counter", set()),
    "aviary_pop3d_messages_deleted_total": ("counter", set()),
}


def delta(before, after):
    keys = set(before) | set(after)
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys if after.get(k, 0.0) != before.get(k, 0.0)}


class MetricsTest(Pop3TestCase):

    pop3d_options = {"allow_plaintext_auth": True}

    def scrape(self):
        return parse(self.host.metrics_text("pop3d"))

    def traffic(self):
        user, pw, datas = self.mailbox_with(2)
        c = self.session(user, pw)
        c.retr(1)
        self.assertOk(c.cmd("DELE 2"))
        c.quit()
        bad = self.pop3()
        self.assertErr(bad.user_pass(user, "wrong"), "AUTH")
        bad.close()
        s = self.pop3s()
        s.close()

    def test_promtool_check(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.fail("promtool is not installed (Debian package prometheus)")
        self.traffic()
        text = self.host.metrics_text("pop3d")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"promtool check metrics:\n{r.stdout}{r.stderr}\n---\n{text[:3000]}")

    def test_content_type_and_404(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.host.pop3d_metrics_port}/metrics", timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"),
                            r.headers.get("Content-Type"))
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{self.host.pop3d_metrics_port}/nothing-here", timeout=10)
        self.assertEqual(e.exception.code, 404)

    def test_families_and_types(self):
        self.traffic()
        samples, types = self.scrape()
        for name, (kind, labels) in FAMILIES.items():
            self.assertEqual(types.get(name), kind, f"# TYPE of {name}")
            series = [dict(l) for (n, l) in samples if n == name]
            self.assertTrue(series, f"no samples of {name}")
            for s in series:
                self.assertTrue(labels <= set(s), f"{name} lacks labels {labels}: {s}")

    def test_connections_by_listener(self):
        before, _ = self.scrape()
        before = by_label(before, "aviary_pop3d_connections_total", "listener")
        for _ in range(3):
            c = self.pop3()
            c.quit()
            c.close()
        mid, _ = self.scrape()
        mid = by_label(mid, "aviary_pop3d_connections_total", "listener")
        d1 = delta(before, mid)
        self.assertEqual(sum(d1.values()), 3, f"3 plain connections counted as {d1}")
        self.assertEqual(len(d1), 1, f"plain connections under more than one listener: {d1}")
        for _ in range(2):
            c = self.pop3s()
            c.quit()
            c.close()
        after, _ = self.scrape()
        after = by_label(after, "aviary_pop3d_connections_total", "listener")
        d2 = delta(mid, after)
        self.assertEqual(sum(d2.values()), 2, f"2 POP3S connections counted as {d2}")
        self.assertEqual(len(d2), 1)
        self.assertNotEqual(set(d1), set(d2), "plain and POP3S connections share one listener label")

    def test_sessions_active(self):
        def active():
            return metric(self.scrape()[0], "aviary_pop3d_sessions_active")

        self.wait_for(lambda: active() == 0, what="sessions_active to be 0 at rest")
        user, pw = self.new_user()
        other, opw = self.new_user()
        a = self.session(user, pw)
        b = self.pop3s()
        b.login(other, opw)
        self.wait_for(lambda: active() == 2, what="sessions_active to be 2")
        a.quit()
        b.close()
        self.wait_for(lambda: active() == 0, what="sessions_active back to 0")

    def test_logins_by_result(self):
        user, pw = self.new_user()
        s0, _ = self.scrape()
        c = self.pop3()
        self.assertOk(c.user_pass(user, pw))
        c.quit()
        s1, _ = self.scrape()
        ok = delta(by_label(s0, "aviary_pop3d_logins_total", "result"),
                   by_label(s1, "aviary_pop3d_logins_total", "result"))
        self.assertEqual(list(ok.values()), [1.0], f"one good login counted as {ok}")
        c = self.pop3()
        self.assertErr(c.user_pass(user, "wrong"), "AUTH")
        self.assertErr(c.auth_plain(user, "wrong"), "AUTH")
        c.close()
        s2, _ = self.scrape()
        bad = delta(by_label(s1, "aviary_pop3d_logins_total", "result"),
                    by_label(s2, "aviary_pop3d_logins_total", "result"))
        self.assertEqual(sum(bad.values()), 2, f"two failed logins counted as {bad}")
        self.assertEqual(len(bad), 1)
        self.assertNotEqual(set(bad), set(ok), "failed and good logins share one result label")

    def test_retrieved_bytes_deleted(self):
        user, pw, datas = self.mailbox_with(3, body="z" * 500 + "\r\n")
        stored = self.host.messages(user)
        s0, _ = self.scrape()
        c = self.session(user, pw)
        c.retr(1)
        c.retr(2)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 3"))
        c.quit()
        s1, _ = self.scrape()
        self.assertEqual(metric(s1, "aviary_pop3d_messages_retrieved_total")
                         - metric(s0, "aviary_pop3d_messages_retrieved_total"), 2)
        sent = metric(s1, "aviary_pop3d_bytes_sent_total") - metric(s0, "aviary_pop3d_bytes_sent_total")
        self.assertGreaterEqual(sent, len(stored[0]) + len(stored[1]), "bytes_sent smaller than two RETRs")
        self.assertLess(sent, len(stored[0]) + len(stored[1]) + 20000, "bytes_sent far too large")
        self.assertEqual(metric(s1, "aviary_pop3d_messages_deleted_total")
                         - metric(s0, "aviary_pop3d_messages_deleted_total"), 2)

    def test_no_deletions_counted_without_quit(self):
        user, pw, datas = self.mailbox_with(2)
        s0, _ = self.scrape()
        c = self.session(user, pw)
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        c.close()
        self.wait_for(lambda: metric(self.scrape()[0], "aviary_pop3d_sessions_active") == 0,
                      what="the dropped session to end")
        s1, _ = self.scrape()
        self.assertEqual(metric(s1, "aviary_pop3d_messages_deleted_total"),
                         metric(s0, "aviary_pop3d_messages_deleted_total"),
                         "deletions counted for a session that never QUIT")
        self.assertEqual(len(self.host.messages(user)), 2)


class MetricsDisabledTest(Pop3TestCase):
    """metrics = "": the daemon runs without an exposer."""

    metrics = False
    pop3d_options = {"allow_plaintext_auth": True}

    def test_serves_pop3_without_metrics(self):
        self.assertIn('metrics = ""', self.host.config.read_text())
        user, pw = self.new_user()
        c = self.session(user, pw)
        self.assertEqual(c.stat(), (0, 0))
        c.quit()


if __name__ == "__main__":
    unittest.main()
