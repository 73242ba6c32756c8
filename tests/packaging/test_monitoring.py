"""test_monitoring.py - packaging/prometheus and packaging/grafana against the
real daemons and a real Prometheus.

  - promtool accepts the scrape config and the alert rules, and the rules
    pass their unit tests (aviary.rules.test.yml);
  - the Grafana dashboard is importable (datasource input, panels for each
    area) and every metric it and the rules query is one the daemons export,
    read from the /metrics of aviary-smtpd and aviary-pop3d started here;
  - a Prometheus server (/usr/bin/prometheus, loopback, temporary storage,
    1 s scrapes) scrapes both daemons with the packaged jobs and rules, sees
    aviary_smtpd_connections_total move after SMTP connections, evaluates
    every rule without error and answers every dashboard query.
"""

import json
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.parse
from pathlib import Path

from aviary_test.metrics import exported_names, fetch, sample_total
from aviary_test.packaging_case import PACKAGING, greet, packaging_daemons, run, stop_all, traffic, wait_until
from aviary_test.ports import free_port
from aviary_test.programs import tool

PROMETHEUS_DIR = PACKAGING / "prometheus"
RULES = PROMETHEUS_DIR / "aviary.rules.yml"
DASHBOARD = PACKAGING / "grafana" / "aviary.json"

METRIC = re.compile(r"\b(aviary_[a-zA-Z0-9_]+)\b")


def rule_exprs():
    """[(alert name, expr)] from the rules file (a small YAML subset: the
    file's own layout, `expr:` inline or a `|` block)."""
    out = []
    alert = None
    lines = RULES.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", "|-", ">", ">-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                out.append((alert, " ".join(block)))
                continue
            out.append((alert, rest))
        i += 1
    return out


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs():
    """[(panel title, expr)] of every query of the dashboard, variables too."""
    d = dashboard()
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(d["panels"])
    for var in d.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if q:
            out.append((f"variable {var['name']}", q))
    return out


def grafana_to_promql(expr):
    """What Grafana would send for a panel query, in a 1 s-scrape setup."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


class StaticChecks(unittest.TestCase):
    """The files alone: promtool, and the shape of the dashboard."""

    def test_promtool_check_config(self):
        r = run([tool("promtool"), "check", "config", PROMETHEUS_DIR / "prometheus.yml"])
        self.assertIn("SUCCESS", r.stdout + r.stderr)

    def test_promtool_check_rules(self):
        r = run([tool("promtool"), "check", "rules", RULES])
        self.assertIn("SUCCESS: 8 rules found", r.stdout + r.stderr)

    def test_promtool_test_rules(self):
        # Run from the folder: the tests file names the rules relative to it.
        r = run([tool("promtool"), "test", "rules", "aviary.rules.test.yml"], cwd=PROMETHEUS_DIR)
        self.assertIn("SUCCESS", r.stdout + r.stderr)

    def test_every_alert_has_a_unit_test(self):
        tests = (PROMETHEUS_DIR / "aviary.rules.test.yml").read_text()
        alerts = {a for a, _ in rule_exprs()}
        self.assertEqual(len(alerts), 8)
        for alert in alerts:
            self.assertRegex(tests, rf"alertname: {alert}\n\s+exp_alerts:\n\s+- exp_labels", alert)

    def test_dashboard_is_importable(self):
        d = dashboard()
        self.assertEqual([i["name"] for i in d["__inputs"]], ["DS_PROMETHEUS"])
        self.assertEqual(d["__inputs"][0]["pluginId"], "prometheus")
        self.assertIsNone(d["id"], "an exported dashboard has no database id")
        self.assertTrue(d["uid"] and d["title"])
        ids = []
        for p in d["panels"]:
            ids.append(p["id"])
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
            gp = p["gridPos"]
            self.assertLessEqual(gp["x"] + gp["w"], 24, p["title"])
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")

    def test_dashboard_covers_each_area(self):
        exprs = " ".join(e for _, e in dashboard_exprs())
        for area, metric in [("connections", "aviary_smtpd_connections_total"),
                             ("messages in", "aviary_smtpd_messages_received_total"),
                             ("messages out", "aviary_delivery_attempts_total"),
                             ("queue size", "aviary_queue_messages"),
                             ("queue age", "aviary_queue_oldest_age_seconds"),
                             ("delivery results", 'sum by (result) (rate(aviary_delivery_attempts_total'),
                             ("commit latency", "aviary_storage_commit_duration_seconds_bucket"),
                             ("delivery latency", "aviary_delivery_duration_seconds_bucket"),
                             ("POP3 activity", "aviary_pop3d_messages_retrieved_total"),
                             ("POP3 logins", "aviary_pop3d_logins_total"),
                             ("auth failures", "aviary_smtpd_auth_attempts_total")]:
            self.assertIn(metric, exprs, area)


class AgainstTheDaemons(unittest.TestCase):
    """The real daemons' /metrics, and a real Prometheus scraping them."""

    @classmethod
    def setUpClass(cls):
        cls.daemons = packaging_daemons()
        try:
            cls.daemons.start(pop3d=True)
            # Counters with labels appear with their first event.
            traffic(cls.daemons)
        except BaseException:
            cls.daemons.cleanup()
            raise
        cls.prometheus = None
        cls.prom_dir = Path(tempfile.mkdtemp(prefix="aviary-prometheus-"))

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.prometheus is not None and cls.prometheus.poll() is None:
                cls.prometheus.send_signal(signal.SIGTERM)
                try:
                    cls.prometheus.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    cls.prometheus.kill()
                    cls.prometheus.wait(timeout=10)
            codes = stop_all(cls.daemons)
            for name, code in codes.items():
                if code != 0:
                    raise AssertionError(f"{name} exited {code} on SIGTERM:\n{cls.daemons.logs()}")
        finally:
            cls.daemons.cleanup()
            shutil.rmtree(cls.prom_dir, ignore_errors=True)

    def exported(self):
        return exported_names(self.daemons.metrics_text("smtpd")) | exported_names(self.daemons.metrics_text("pop3d"))

    def test_queried_metrics_are_exported(self):
        exported = self.exported()
        used = {}
        for where, exprs in (("rule", rule_exprs()), ("dashboard", dashboard_exprs())):
            for title, expr in exprs:
                for name in METRIC.findall(expr):
                    used.setdefault(name, set()).add(f"{where} {title}")
        self.assertIn("aviary_smtpd_connections_total", used)
        missing = {name: sorted(places) for name, places in used.items() if name not in exported}
        if missing:
            self.fail("queried but exported by neither daemon:\n" +
                      "\n".join(f"  {n}: {', '.join(p)}" for n, p in sorted(missing.items())))

    def start_prometheus(self):
        """Prometheus with the packaged jobs and rules, retargeted at the
        test's metrics ports, 1 s scrapes and rule evaluations."""
        cls = type(self)
        if cls.prometheus is not None:
            return cls.prom_port
        packaged = (PROMETHEUS_DIR / "prometheus.yml").read_text()
        self.assertIn('targets: ["127.0.0.1:9101"]', packaged)
        self.assertIn('targets: ["127.0.0.1:9102"]', packaged)
        config = (packaged.replace("scrape_interval: 15s", "scrape_interval: 1s")
                  .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
                  .replace("127.0.0.1:9101", f"127.0.0.1:{self.daemons.smtpd_metrics_port}")
                  .replace("127.0.0.1:9102", f"127.0.0.1:{self.daemons.pop3d_metrics_port}"))
        shutil.copy(RULES, cls.prom_dir / "aviary.rules.yml")
        (cls.prom_dir / "prometheus.yml").write_text(config)
        cls.prom_port = free_port()
        log = open(cls.prom_dir / "prometheus.log", "ab")
        try:
            cls.prometheus = subprocess.Popen(
                [tool("prometheus"), f"--config.file={cls.prom_dir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={cls.prom_dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{cls.prom_port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()

        def ready():
            if cls.prometheus.poll() is not None:
                raise AssertionError(f"prometheus exited {cls.prometheus.returncode}:\n{self.prom_log()}")
            return "Ready" in fetch(f"http://127.0.0.1:{cls.prom_port}/-/ready", timeout=2)

        wait_until(ready, 30, "prometheus to be ready")
        return cls.prom_port

    def prom_log(self):
        try:
            return (self.prom_dir / "prometheus.log").read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = json.loads(fetch(url))
        except OSError as e:
            # 400/422 carry the error in the body.
            body = json.loads(e.read().decode()) if hasattr(e, "read") else {"status": "error", "error": repr(e)}
        return body

    def query(self, promql):
        body = self.api("query", query=promql)
        self.assertEqual(body["status"], "success", f"{promql}: {body.get('error')}")
        return body["data"]["result"]

    def scalar(self, promql):
        """The single value of an instant query, or None if it has no series."""
        result = self.query(promql)
        if not result:
            return None
        self.assertEqual(len(result), 1, result)
        return float(result[0]["value"][1])

    def test_prometheus_scrapes_both_daemons(self):
        self.start_prometheus()
        for job in ("aviary-smtpd", "aviary-pop3d"):
            wait_until(lambda: self.scalar(f'up{{job="{job}"}}') == 1, 30, f"Prometheus to scrape {job}")

        # The daemons' own count, as Prometheus has it: the readiness probes
        # have already connected, so the series exists.
        before = wait_until(lambda: self.scalar('sum(aviary_smtpd_connections_total{job="aviary-smtpd"})'),
                            30, "a first sample of aviary_smtpd_connections_total")
        direct = sample_total(self.daemons.metrics_text("smtpd"), "aviary_smtpd_connections_total")
        for _ in range(3):
            self.assertTrue(greet(self.daemons.smtp_port).startswith(b"220"))
        wait_until(lambda: self.scalar('sum(aviary_smtpd_connections_total{job="aviary-smtpd"})') == direct + 3,
                   30, f"aviary_smtpd_connections_total to go from {before} (direct {direct}) to {direct + 3}")

        self.assertTrue(greet(self.daemons.pop3_port).startswith(b"+OK"))
        wait_until(lambda: (self.scalar('sum(aviary_pop3d_connections_total{job="aviary-pop3d"})') or 0) >= 2,
                   30, "aviary_pop3d_connections_total to count the probe and our connection")

    def test_rules_evaluate_without_error(self):
        self.start_prometheus()

        def evaluated():
            groups = self.api("rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            # Not yet evaluated: lastEvaluation is Go's zero time, year 1.
            if len(rules) != 8 or any(r.get("lastEvaluation", "0001").startswith("0001") for r in rules):
                return None
            return rules

        rules = wait_until(evaluated, 30, "Prometheus to evaluate the 8 rules")
        # A rule on a missing metric is healthy (an empty result), so health
        # alone proves syntax and types; test_queried_metrics_are_exported
        # proves the names.
        for r in rules:
            self.assertEqual(r["health"], "ok", f"{r['name']}: {r.get('lastError')}")
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        self.assertEqual(firing, [], "nothing is wrong with the test daemons")

    def test_dashboard_queries_run(self):
        self.start_prometheus()
        for title, expr in dashboard_exprs():
            if expr.startswith("label_values("):
                # Grafana's own function: what it asks Prometheus for.
                m = re.fullmatch(r"label_values\((.*), (\w+)\)", expr)
                self.assertIsNotNone(m, expr)
                body = self.api("series", **{"match[]": m.group(1)})
                self.assertEqual(body["status"], "success", f"{title}: {body.get('error')}")
                continue
            body = self.api("query", query=grafana_to_promql(expr))
            self.assertEqual(body["status"], "success", f"{title}: {expr}: {body.get('error')}")


if __name__ == "__main__":
    unittest.main()
