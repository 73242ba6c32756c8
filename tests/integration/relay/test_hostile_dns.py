"""test_hostile_dns.py - DNS answers an attacker controls (issue 11 item 24).

A domain's owner chooses its MX names, and a DNS label may hold any octet:
CR, LF, ":", space, 8-bit. dnsmasq will not serve such names, so a tiny DNS
server on a loopback UDP port does (ScriptedDns). An MX named
"mx\\r\\nX-Injected: yes.b.test" used to be taken as it was, resolved, and
written into the bounce as "host mx<CR><LF>X-Injected: yes.b.test[ip]
said: ...", a line of the attacker's own. Only LDH host names are taken
from MX data now: the malformed MX hosts are skipped (the good one is
used, and the bounce has no injected line); a domain whose MX hosts are
all malformed is deferred (a temporary DNS problem), not bounced, and
nothing connects anywhere.
"""

import re
import socket
import struct
import threading
import time
import unittest

from aviary_test.messages import make_message, split_trace
from aviary_test.ports import free_port
from aviary_test.relay_case import RelayTestCase

EVIL_CRLF = b"mx\r\nX-Injected: yes"   # one label, then .b.test
EVIL_8BIT = b"m\xc3\xa9x"               # one label, then .b.test
MX, A = 15, 1


def wire(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


class ScriptedDns:
    """A UDP DNS server on 127.0.0.1:<free port>: MX records for b.test as
    given ([(preference, [label, ...])]), an A record `ip` for every name
    under b.test, NODATA for other types there, NXDOMAIN elsewhere. Logs
    every question."""

    def __init__(self, mx, ip):
        self.mx = mx
        self.ip = ip
        self.port = free_port(udp=True)
        self.lock = threading.Lock()
        self.questions = []  # (name bytes, qtype)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def log_tail(self, n=30):
        with self.lock:
            return "--- scripted DNS ---\n" + "\n".join(f"{name!r} type {t}" for name, t in self.questions[-n:])

    def asked(self, name, qtype):
        with self.lock:
            return any(n.lower() == name.lower() and t == qtype for n, t in self.questions)

    def _loop(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, struct.error):
                continue
            if reply:
                self.sock.sendto(reply, peer)

    def _answer(self, data):
        qid, flags, qdcount = struct.unpack(">HHH", data[:6])
        if qdcount != 1:
            return None
        i, labels = 12, []
        while data[i]:
            n = data[i]
            labels.append(data[i + 1:i + 1 + n])
            i += 1 + n
        i += 1
        qtype, _qclass = struct.unpack(">HH", data[i:i + 4])
        question = data[12:i + 4]
        name = b".".join(labels)
        with self.lock:
            self.questions.append((name, qtype))
        lower = [l.lower() for l in labels]
        answers = []
        rcode = 0
        if lower[-2:] != [b"b", b"test"]:
            rcode = 3  # NXDOMAIN
        elif qtype == MX and lower == [b"b", b"test"]:
            for preference, host in self.mx:
                answers.append((MX, struct.pack(">H", preference) + wire(host)))
        elif qtype == A:
            answers.append((A, socket.inet_aton(self.ip)))
        authority = b""
        if not answers:
            # NODATA and NXDOMAIN carry the zone's SOA (RFC 2308 §2).
            soa = wire([b"ns", b"b", b"test"]) + wire([b"hostmaster", b"b", b"test"]) + struct.pack(">IIIII", 1, 60, 60, 60, 60)
            authority = wire([b"b", b"test"]) + struct.pack(">HHIH", 6, 1, 60, len(soa)) + soa
        # QR, AA, RD as asked, RA.
        header = struct.pack(">HHHHHH", qid, 0x8480 | (flags & 0x0100) | rcode, 1, len(answers),
                             1 if authority else 0, 0)
        body = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 60, len(rd)) + rd for t, rd in answers)
        return header + question + body + authority


def injected_lines(raw):
    """Lines of a stored message that start like a header field an
    attacker put there."""
    return [l for l in raw.split(b"\r\n") if re.match(rb"(?i)x-injected", l)]


class HostileDnsTest(RelayTestCase):

    def scripted_dns(self, mx, ip):
        dns = ScriptedDns(mx, ip)
        self.addCleanup(dns.stop)
        self._parts.append(dns)
        return dns

    def test_malformed_mx_names_are_skipped_and_nothing_is_injected_into_the_bounce(self):
        mx = self.scripted(4, name="mx.b.test", rcpt_script={"nobody@b.test": [(550, "5.1.1 No such user")]})
        dns = self.scripted_dns([(10, [EVIL_CRLF, b"b", b"test"]), (15, [EVIL_8BIT, b"b", b"test"]),
                                 (20, [b"mx", b"b", b"test"])], self.net.ip(4))
        a = self.host("a", "a.test", 2, relay={"dns": dns.endpoint})
        a.add_user("alice@a.test")
        subject = self.marker("evil-mx")
        a.submit("alice@a.test", ["nobody@b.test"], make_message("alice@a.test", "nobody@b.test", subject))
        self.wait_count(a, "alice@a.test", 1)
        self.assertTrue(dns.asked(b"b.test", MX), dns.log_tail())

        raw = a.messages("alice@a.test")[0]
        self.assertEqual(injected_lines(raw), [], f"DNS data injected a line into the bounce:\n{raw[:3000]!r}")
        report = self.assertBounce(raw, a, "nobody@b.test", status=r"5\.1\.1", original_marker=subject)
        _fields, rest = split_trace(raw)
        text = rest.decode("ascii")  # a us-ascii report: nothing 8-bit from the DNS either
        self.assertIn(f"host mx.b.test[{self.net.ip(4)}] said: 550", text)
        self.assertEqual(report.recipient("nobody@b.test").get("remote-mta"), "dns; mx.b.test")
        self.assertNotIn("X-Injected", text, "the malformed MX name reached the bounce")
        # Only the good MX host was resolved and connected to.
        self.assertFalse(dns.asked(EVIL_CRLF + b".b.test", A), "the CR LF MX name was looked up")
        self.assertFalse(dns.asked(EVIL_8BIT + b".b.test", A), "the 8-bit MX name was looked up")
        self.assertEqual(mx.sessions, 1)
        self.assertRegex(a.smtpd.log(), r"ignoring 2 malformed MX host name")

    def test_only_malformed_mx_names_defer_without_a_connection(self):
        mx = self.scripted(4, name="mx.b.test")
        dns = self.scripted_dns([(10, [EVIL_CRLF, b"b", b"test"])], self.net.ip(4))
        a = self.host("a", "a.test", 2, relay={"dns": dns.endpoint})
        a.add_user("alice@a.test")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("all-evil")))
        entry = self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 1), None),
                              "the first attempt recorded")
        [rcpt] = entry["recipients"]
        self.assertEqual(rcpt["status"], "pending", entry)
        self.assertIn("malformed MX host names for b.test", rcpt["diagnostic"])
        self.assertNotIn("\r", rcpt["diagnostic"])
        self.assertNotIn("\n", rcpt["diagnostic"])
        time.sleep(1)
        self.assertEqual(mx.sessions, 0, "the relay connected to where a malformed MX name pointed")
        self.assertEqual(a.count("alice@a.test"), 0, "malformed DNS data is no reason to bounce at once")


if __name__ == "__main__":
    unittest.main()
