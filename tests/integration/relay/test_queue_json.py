"""test_queue_json.py - aviaryctl --json prints valid UTF-8 whatever a remote MX says (issue 11 item 35).

A next hop answers RCPT with a 4xx reply whose text holds bytes that are no
UTF-8 (Latin-1, a stray continuation octet, a truncated sequence) beside
well-formed UTF-8. `aviaryctl --json queue show` must still print a document
that a strict UTF-8 JSON parser reads, keeping the good text and replacing
each bad octet with U+FFFD.
"""

import json
import subprocess
import unittest

from aviary_test.messages import make_message
from aviary_test.peers import LoopbackServer
from aviary_test.programs import program
from aviary_test.relay_case import RelayTestCase

# 0xE9 alone (Latin-1 é), 0x80 (a lone continuation), 0xE2 0x82 (a truncated €).
BAD_TEXT = b"4.7.1 caf\xe9 \x80 \xe2\x82 gr\xc3\xbc\xc3\x9fe greylisted"


class RawMx(LoopbackServer):
    """Answers every session with fixed bytes; RCPT gets 451 BAD_TEXT."""

    label = "raw MX"

    def _serve(self, conn, peer):
        with conn:
            self._session(conn)

    def _session(self, conn):
        conn.settimeout(10)
        conn.sendall(b"220 raw.mx ESMTP\r\n")
        buf = b""
        for _ in range(100):  # bounded: a relay transaction is a few commands
            while b"\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-raw.mx\r\n250 ENHANCEDSTATUSCODES\r\n")
            elif verb == b"RCPT":
                conn.sendall(b"451 " + BAD_TEXT + b"\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 ok\r\n")


class QueueJsonTest(RelayTestCase):

    def test_queue_show_json_is_utf8_with_bad_reply_bytes(self):
        self.start_dns(lambda dns: (dns.mx("b.test", "mx.b.test", 10), dns.a("mx.b.test", self.net.ip(4))))
        mx = RawMx(self.net.ip(4), self.net.smtp_port)
        self.addCleanup(mx.stop)
        a = self.host("a", "a.test", 2)
        a.add_user("alice@a.test")
        a.submit("alice@a.test", ["bob@b.test"], make_message("alice@a.test", "bob@b.test", self.marker("utf8")))
        entry = self.wait_for(lambda: next((e for e in a.queue() if e["attempts"] >= 1), None),
                              "a deferred attempt recorded in the queue")

        r = subprocess.run([program("aviaryctl"), "-c", str(a.config), "--json", "queue", "show", str(entry["id"])],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout.decode("utf-8")  # strict: raises on any invalid byte
        shown = json.loads(text)
        errors = " ".join(str(rcpt.get("diagnostic", "")) for rcpt in shown["recipients"])
        self.assertIn("greylisted", errors, shown)
        self.assertIn("grüße", errors, "well-formed UTF-8 was not kept")
        self.assertIn("caf\ufffd \ufffd", errors, "invalid octets were not replaced by U+FFFD")


if __name__ == "__main__":
    unittest.main()
