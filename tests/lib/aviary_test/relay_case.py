"""The relay suite: two Aviary hosts, a private DNS server and scripted SMTP
peers on one test's own loopback network (ports.Net), for the outbound
queue runner's end-to-end tests."""

import re
import shutil
import tempfile
import uuid
from pathlib import Path

from aviary_test.case import AviaryTestCase
from aviary_test.daemon import Aviary
from aviary_test.dns import Dnsmasq
from aviary_test.dsn import Report
from aviary_test.messages import split_trace
from aviary_test.peers import ScriptedSmtp
from aviary_test.ports import Net
from aviary_test.programs import keep_tmp

WAIT = 20.0  # seconds any single expected event may take

SMTPD_DEFAULTS = {"max_message_size": "10MiB", "max_recipients": 100, "io_threads": 2,
                  "shutdown_timeout": "5s", "max_connections_per_ip": 500}


def relay_host(base_dir, name, domain, ip, smtp_port, relay=None, smtpd=None):
    """One Aviary setup hosting `domain` as mail.<domain> on loopback address
    `ip`: aviary-smtpd on ip:smtp_port (port 25 semantics) and a submission
    port (STARTTLS, AUTH), aviary-pop3d (started on demand) on a POP3 port
    with STLS, relay.* from `relay` (a dict of TOML values, "routes" a dict)."""
    h = Aviary(name, base_dir=base_dir, ip=ip, hostname=f"mail.{domain}", smtp_port=smtp_port, submission=True,
               smtpd_metrics=True, pop3=True, smtpd={**SMTPD_DEFAULTS, **(smtpd or {})}, relay=relay or {})
    h.domain = domain
    h.add_domain(domain)
    return h


class RelayTestCase(AviaryTestCase):
    """Builds a Net, a temporary directory and whatever a test asks for;
    everything is stopped in cleanups, also when the test fails."""

    def setUp(self):
        self.net = Net()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"aviary-relay-{self._testMethodName}-"))
        self.addCleanup(self._remove_tmp)
        self._parts = []  # things with log_tail() for failure messages
        self.dns = None

    wait_timeout = WAIT
    wait_interval = 0.1

    def _remove_tmp(self):
        if keep_tmp():
            print(f"kept {self.tmp}")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- building blocks --------------------------------------------------------

    def start_dns(self, setup):
        """A dnsmasq with the records setup(dns) adds."""
        self.dns = Dnsmasq(self.tmp)
        setup(self.dns)
        self.addCleanup(self.dns.stop)
        self.dns.start()
        self._parts.append(self.dns.proc)
        return self.dns

    def host(self, name, domain, n, relay=None, start=True, pop3d=False, smtpd=None):
        """An Aviary host on .n of the test's net, its relay settings
        defaulting to this test's dnsmasq and MX port."""
        settings = {"smtp_port": self.net.smtp_port, "retry": ["1h"], "max_queue_time": "1d"}
        if self.dns is not None:
            settings["dns"] = self.dns.endpoint
        settings.update(relay or {})
        h = relay_host(self.tmp, name, domain, self.net.ip(n), self.net.smtp_port, relay=settings, smtpd=smtpd)
        self.addCleanup(self._stop_host, h)
        self._parts.append(h)
        if start:
            h.start(pop3d=pop3d)
        return h

    def _stop_host(self, h):
        alive = h.smtpd.alive()
        rc = h.stop()
        if alive and rc != 0:
            raise AssertionError(f"{h.smtpd.name} exited {rc} on SIGTERM:\n{h.smtpd.log_tail()}")
        if not alive and rc not in (0, None):
            raise AssertionError(f"{h.smtpd.name} died during the test (exit {rc}):\n{h.smtpd.log_tail()}")

    def scripted(self, n, **kw):
        s = ScriptedSmtp(self.net.ip(n), self.net.smtp_port, **kw)
        self.addCleanup(s.stop)
        self._parts.append(s)
        return s

    # -- waiting and asserting --------------------------------------------------

    def logs(self):
        out = []
        for p in self._parts:
            out.append(p.logs() if isinstance(p, Aviary) else p.log_tail())
        return "\n".join(out)

    def wait_count(self, host, address, n, timeout=WAIT):
        self.wait_for(lambda: host.count(address) >= n, f"{n} message(s) in {address} at {host.name}", timeout)
        self.assertEqual(host.count(address), n, f"{address} at {host.name}: more than {n} message(s)")

    def wait_queue_empty(self, host, timeout=WAIT):
        self.wait_for(lambda: host.queue() == [], f"an empty queue at {host.name}", timeout)

    def assertAsked(self, name, qtype):
        """The test's dnsmasq was asked for name's qtype records (its log)."""
        log = self.dns.proc.log()
        self.assertRegex(log, r"query\[" + re.escape(qtype) + r"\] " + re.escape(name) + r" from",
                         f"nobody asked dnsmasq for {name} {qtype}:\n{self.dns.proc.log_tail(20)}")

    def assertAlive(self, *hosts):
        for h in hosts:
            if not h.smtpd.alive():
                self.fail(f"{h.smtpd.name} died (exit {h.smtpd.proc.returncode}):\n{h.smtpd.log_tail()}")

    def assertBounce(self, raw, sender_host, recipient, status=r"5\.\d{1,3}\.\d{1,3}", original_marker=None):
        """raw (a stored message) is an RFC 3464 bounce from sender_host for
        recipient with a Status matching `status`; returns the Report."""
        fields, rest = split_trace(raw)
        names = [n.lower() for n, _ in fields]
        self.assertIn("return-path", names, raw[:600])
        self.assertEqual(dict((n.lower(), v) for n, v in fields)["return-path"], "<>",
                         "a bounce's envelope sender is the null sender (RFC 3464 §2, RFC 5321 §4.5.5)")
        report = Report(rest)
        head = rest[:1500].decode("utf-8", "replace")
        self.assertEqual(report.content_type, "multipart/report", head)
        self.assertEqual((report.report_type or "").lower(), "delivery-status", head)
        sender = report.message.get("From", "")
        self.assertRegex(sender, r"(?i)MAILER-DAEMON@" + re.escape(sender_host.hostname), head)
        self.assertEqual(report.status_parts, 1, f"message/delivery-status parts:\n{head}")
        block = report.recipient(recipient)
        self.assertIsNotNone(block, f"no per-recipient block for {recipient}: {report.recipients!r}")
        self.assertEqual(block.get("action", "").lower(), "failed", block)
        self.assertRegex(block.get("status", ""), r"^" + status + r"$", block)
        self.assertIn("reporting-mta", report.per_message, report.per_message)
        if original_marker is not None:
            self.assertIsNotNone(report.original, f"the bounce returns no original message or headers:\n{head}")
            self.assertIn(original_marker.encode(), report.original,
                          f"the returned {report.original_type} lacks the original Subject")
        return report

    def marker(self, what):
        return f"{what}-{uuid.uuid4().hex[:10]}"
