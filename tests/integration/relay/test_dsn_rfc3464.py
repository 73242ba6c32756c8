"""test_dsn_rfc3464.py - every bounce is a well-formed RFC 3464 report (issue 11 item 29).

Two bounces for one message: one recipient refused with 550 5.1.1 by the MX
host (Remote-MTA must be that host's DNS name, never "name[ip]"), the other
deferred with 451 until relay.max_queue_time (4s) runs out (Action: failed,
Status: 4.4.7, as Postfix does). Each one is taken apart with Python's
email package and checked field by field against RFC 3464 §2 (and RFC
3462/6522 for the multipart/report around it): the required fields
Reporting-MTA, Final-Recipient, Action and Status, the syntax of every
field present, no unknown fields, dates that parse, lines of at most 998
octets ending in CRLF.
"""

import email
import email.policy
import email.utils
import re
import time
import unittest

from aviary_test.messages import make_message, split_trace
from aviary_test.relay_case import RelayTestCase, WAIT

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")
STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
ADDR_SPEC = re.compile(r"^[^\s@<>]+@[^\s@<>]+$")
ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
# RFC 3464 §2.2 and §2.3: which fields may appear where (X- extensions anywhere).
PER_MESSAGE = {"original-envelope-id", "reporting-mta", "dsn-gateway", "received-from-mta", "arrival-date"}
PER_RECIPIENT = {"original-recipient", "final-recipient", "action", "status", "remote-mta", "diagnostic-code",
                 "last-attempt-date", "final-log-id", "will-retry-until"}


def unfold(value):
    return re.sub(r"\r?\n[ \t]+", " ", str(value)).strip()


class DsnFormatTest(RelayTestCase):

    # -- the checker ------------------------------------------------------------

    def check_type_and_name(self, field, value, name_check):
        """`type ; name` (RFC 3464 §2.1.2: mta-name-type / address-type)."""
        m = re.match(r"^([A-Za-z0-9-]+)\s*;\s*(.+)$", value)
        self.assertIsNotNone(m, f"{field}: {value!r} is not 'type; name'")
        name_check(m.group(1).lower(), m.group(2).strip())

    def check_mta(self, field, value):
        def check(kind, name):
            self.assertEqual(kind, "dns", f"{field}: {value!r}")
            self.assertRegex(name, HOST_NAME, f"{field}: {value!r}: a dns-type name must be a DNS name")
            self.assertFalse(re.search(r"\.\d+$|^\d+$", name), f"{field}: {value!r} is an address, not a name")
        self.check_type_and_name(field, value, check)

    def check_date(self, field, value):
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError) as e:
            self.fail(f"{field}: {value!r} is no RFC 5322 date-time ({e})")
        self.assertIsNotNone(parsed.tzinfo, f"{field}: {value!r} has no zone")

    def check_fields(self, block, allowed, where):
        names = [k.lower() for k in block.keys()]
        for n in names:
            self.assertTrue(n in allowed or n.startswith("x-"), f"{where}: field {n!r} does not belong here")
            self.assertEqual(names.count(n), 1, f"{where}: {n} appears more than once")
        return {k.lower(): unfold(v) for k, v in block.items()}

    def check_report(self, raw, sender_host, expect):
        """Checks the stored bounce `raw` against RFC 3464 and returns its
        per-recipient fields by address. `expect` maps each recipient the
        bounce must report to a Status regex."""
        fields, rest = split_trace(raw)
        self.assertEqual(dict((n.lower(), v) for n, v in fields).get("return-path"), "<>")
        for i, line in enumerate(rest.split(b"\r\n")[:-1]):
            self.assertLessEqual(len(line), 998, f"line {i} is {len(line)} octets")
            self.assertNotIn(b"\n", line, f"bare LF in line {i}")
            self.assertNotIn(b"\r", line, f"bare CR in line {i}")
        self.assertTrue(rest.endswith(b"\r\n"))
        rest.decode("ascii")  # a us-ascii report
        msg = email.message_from_bytes(rest, policy=email.policy.compat32)
        head = rest[:1200].decode("ascii")

        # RFC 6522 multipart/report: human part, machine part, returned headers.
        self.assertEqual(msg.get_content_type(), "multipart/report", head)
        self.assertEqual((msg.get_param("report-type") or "").lower(), "delivery-status", head)
        self.assertEqual(msg.get("MIME-Version"), "1.0")
        self.assertRegex(msg.get("From", ""), r"(?i)MAILER-DAEMON@" + re.escape(sender_host.hostname))
        self.check_date("Date", msg.get("Date", ""))
        self.assertTrue(msg.get("Message-ID"), "no Message-ID")
        self.assertEqual(msg.get("Auto-Submitted"), "auto-replied")  # RFC 3834 §5
        parts = msg.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/delivery-status", "text/rfc822-headers"], head)

        blocks = parts[1].get_payload()
        self.assertIsInstance(blocks, list, "the delivery-status part did not parse into field blocks")
        self.assertGreaterEqual(len(blocks), 2, "a per-message block and at least one per-recipient block")
        per_message = self.check_fields(blocks[0], PER_MESSAGE, "per-message fields")
        self.assertIn("reporting-mta", per_message, "Reporting-MTA is required (RFC 3464 §2.2)")
        self.check_mta("Reporting-MTA", per_message["reporting-mta"])
        self.assertEqual(per_message["reporting-mta"], f"dns; {sender_host.hostname}")
        if "arrival-date" in per_message:
            self.check_date("Arrival-Date", per_message["arrival-date"])

        recipients = {}
        for i, block in enumerate(blocks[1:]):
            where = f"per-recipient block {i}"
            r = self.check_fields(block, PER_RECIPIENT, where)
            for required in ("final-recipient", "action", "status"):
                self.assertIn(required, r, f"{where}: {required} is required (RFC 3464 §2.3)")
            address = []

            def final(kind, name):
                self.assertEqual(kind, "rfc822", r["final-recipient"])
                self.assertRegex(name, ADDR_SPEC, f"Final-Recipient: {name!r} is no addr-spec")
                address.append(name)
            self.check_type_and_name("Final-Recipient", r["final-recipient"], final)
            self.assertIn(r["action"].lower(), ACTIONS, r)
            status = STATUS.match(r["status"])
            self.assertIsNotNone(status, f"Status: {r['status']!r} is not class.subject.detail")
            if r["action"].lower() == "failed":
                self.assertIn(status.group(1), "45", r)
            if "remote-mta" in r:
                self.check_mta("Remote-MTA", r["remote-mta"])
            if "diagnostic-code" in r:
                self.assertRegex(r["diagnostic-code"], r"^(?i:smtp|x-[A-Za-z0-9-]+)\s*;", r)
            for d in ("last-attempt-date", "will-retry-until"):
                if d in r:
                    self.check_date(d, r[d])
            self.assertNotIn("will-retry-until", r, "Will-Retry-Until is only for Action: delayed")
            recipients[address[0].lower()] = r
        self.assertEqual(sorted(recipients), sorted(expect), recipients)
        for address, status in expect.items():
            self.assertRegex(recipients[address]["status"], status)
            self.assertEqual(recipients[address]["action"], "failed")
        self.assertIn(b"Subject:", parts[2].get_payload().encode("ascii"), "no original headers returned")
        return recipients

    # -- the test -----------------------------------------------------------------

    def test_both_bounces_are_rfc3464_reports(self):
        ip4 = self.net.ip(4)

        def records(dns):
            dns.mx("b.test", "mx.b.test", 10)
            dns.a("mx.b.test", ip4)
        self.start_dns(records)
        self.scripted(4, name="mx.b.test", rcpt_script={
            "gone@b.test": [(550, "5.1.1 <gone@b.test>: Recipient address rejected")],
            "later@b.test": [(451, "4.2.0 Try again later")],
        })
        a = self.host("a", "a.test", 2, relay={"retry": ["1s"], "max_queue_time": "4s"})
        a.add_user("alice@a.test")
        subject = self.marker("rfc3464")
        a.submit("alice@a.test", ["gone@b.test", "later@b.test", "ok@b.test"],
                 make_message("alice@a.test", "gone@b.test", subject))

        # The 550 bounces at once.
        self.wait_count(a, "alice@a.test", 1)
        refused = self.check_report(a.messages("alice@a.test")[0], a, {"gone@b.test": r"^5\.1\.1$"})
        r = refused["gone@b.test"]
        self.assertEqual(r.get("remote-mta"), "dns; mx.b.test", "Remote-MTA: dns; NAME, without [ip]")
        self.assertRegex(r.get("diagnostic-code", ""), r"^smtp; 550 5\.1\.1 ")

        # The 451 one expires after max_queue_time: Action failed, Status 4.4.7.
        self.wait_count(a, "alice@a.test", 2, timeout=WAIT)
        self.wait_queue_empty(a)
        expired = self.check_report(a.messages("alice@a.test")[1], a, {"later@b.test": r"^4\.4\.7$"})
        diagnostic = expired["later@b.test"].get("diagnostic-code", "")
        self.assertRegex(diagnostic, r"^X-Aviary; delivery time expired")
        self.assertIn("451 4.2.0", diagnostic, "the last error is in the report")
        time.sleep(1)
        self.assertEqual(a.count("alice@a.test"), 2, "one bounce per failure, nothing more")


if __name__ == "__main__":
    unittest.main()
