"""test_dialogues.py - the replies of the submission listeners, as scripts.

Plays every dialogues/*.txt script (format in dialogues/README.txt) as one
subTest on a fresh connection from its own loopback address: EHLO offers,
AUTH before STARTTLS (538) and MAIL before AUTH (530), PLAIN and LOGIN with
and without initial responses, cancellation, bad base64, unknown mechanisms,
a second AUTH, no AUTH on port 25, implicit TLS, and where mail goes.
"""

import codecs
import re
import socket
import unittest

from submission_harness import (
    HERE, HOSTNAME, ConnectionClosed, SubmissionTestCase, b64, password, plain)

DIALOGUES = HERE / "dialogues"
ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def expand(text):
    """The {...} macros of dialogues/README.txt."""
    text = re.sub(r"\{plain:([^}]+)\}", lambda m: plain(m.group(1)), text)
    text = re.sub(r"\{user:([^}]+)\}", lambda m: b64(m.group(1)), text)
    text = re.sub(r"\{pass:([^}]+)\}", lambda m: b64(password(m.group(1))), text)
    text = re.sub(r"\{b64:([^}]*)\}",
                  lambda m: b64(codecs.escape_decode(m.group(1).encode("utf-8"))[0]), text)
    return re.sub(r"\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)


def parse_dialogue(path):
    """(listener, [(kind, payload, line number)]) of a dialogue file."""
    listener = "submission"
    steps = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip() or line.startswith("#"):
            continue
        kind, sep, rest = line.partition(":")
        if not sep or kind not in ("L", "C", "C+", "S", "T", "M", "Q"):
            raise ValueError(f"{path.name}:{number}: cannot parse {line!r}")
        if rest.startswith(" "):
            rest = rest[1:]
        if kind == "L":
            if steps or rest not in ("submission", "submissions", "smtp"):
                raise ValueError(f"{path.name}:{number}: L: must come first and name a listener")
            listener = rest
        elif kind == "C":
            steps.append(("send", expand(rest).encode("utf-8") + b"\r\n", number))
        elif kind == "C+":
            steps.append(("send", codecs.escape_decode(expand(rest).encode("utf-8"))[0], number))
        elif kind == "T":
            if rest.strip() != "tls":
                raise ValueError(f"{path.name}:{number}: T: takes 'tls'")
            steps.append(("tls", None, number))
        elif kind == "S":
            if rest.strip() == "closed":
                steps.append(("closed", None, number))
                continue
            parts = rest.split(" ", 1)
            code, tail = parts[0], (parts[1] if len(parts) > 1 else "")
            if tail.startswith("="):
                steps.append(("exact", (code, tail[1:]), number))
                continue
            enhanced = None
            first, _, after = tail.partition(" ")
            if ENHANCED.match(first):
                enhanced, tail = first, after
            steps.append(("reply", (code, enhanced, tail.strip() or None), number))
        elif kind == "M":
            address, delta = rest.rsplit(" ", 1)
            steps.append(("mailbox", (address.strip(), int(delta)), number))
        else:  # Q: +N
            steps.append(("queue", int(rest.strip()), number))
    return listener, steps


class SubmissionDialogueTest(SubmissionTestCase):

    def connect(self, listener):
        if listener == "submissions":
            c = self.submissions()
            # The greeting is read by submissions(); put it back for the script.
            return c, [c.greeting]
        c = self.mx() if listener == "smtp" else self.submission()
        return c, [c.greeting]

    def run_dialogue(self, path):
        listener, steps = parse_dialogue(path)
        deltas = {}
        queue_delta = None
        for kind, payload, _number in steps:
            if kind == "mailbox":
                deltas[payload[0]] = deltas.get(payload[0], 0) + payload[1]
            elif kind == "queue":
                queue_delta = (queue_delta or 0) + payload
        before = {address: len(self.daemon.store.mailbox(address)) for address in deltas}
        queue_before = len(self.daemon.store.queue())
        c, early = self.connect(listener)
        closed = False
        last_sent = b""
        for kind, payload, number in steps:
            where = f"{path.name}:{number}"
            if kind == "send":
                self.assertFalse(closed, f"{where}: the server already closed the connection")
                c.send(payload)
                last_sent = payload
            elif kind in ("reply", "exact"):
                try:
                    reply = early.pop(0) if early else c.reply()
                except (ConnectionClosed, socket.timeout, OSError) as e:
                    self.fail(f"{where}: expected a reply {payload}, got {e!r}")
                if kind == "reply":
                    self.assertReply(reply, *payload, what=where)
                else:
                    self.assertReply(reply, payload[0], what=where)
                    self.assertEqual(reply.text, payload[1], f"{where}: reply text of {reply!r}")
            elif kind == "tls":
                self.assertEqual(c.pending(), b"", f"{where}: bytes in the clear after the 220")
                c.handshake(self.tls_context(), server_hostname=HOSTNAME)
            elif kind == "closed":
                self.assertTrue(c.wait_closed(10), f"{where}: the server did not close the connection")
                self.assertEqual(c.pending(), b"", f"{where}: unexpected bytes before the close")
                closed = True
        if not closed and last_sent.upper() == b"QUIT\r\n":
            c.wait_closed(2)
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected bytes after the script")
        elif not closed:
            # Nothing beyond what the script expects (e.g. replies to discarded commands).
            c.send("NOOP\r\n")
            self.assertReply(c.reply(), "250", what=f"{path.name}: NOOP after the script (an extra reply?)")
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected extra bytes")
        c.close()
        for address, delta in deltas.items():
            self.assertEqual(len(self.daemon.store.mailbox(address)) - before[address], delta,
                             f"{path.name}: messages stored for {address}")
        if queue_delta is not None:
            self.assertEqual(len(self.daemon.store.queue()) - queue_before, queue_delta,
                             f"{path.name}: new outbound queue entries")

    def test_dialogues(self):
        files = sorted(p for p in DIALOGUES.glob("*.txt") if p.name != "README.txt")
        self.assertGreaterEqual(len(files), 14)
        for path in files:
            with self.subTest(dialogue=path.name):
                self.run_dialogue(path)


if __name__ == "__main__":
    unittest.main()
