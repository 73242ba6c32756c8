"""The dialogue player: a test conversation as a script (the dialogues/*.txt
of the smtpd and submission suites, format in their README.txt).

  L: listener        first line only: which listener to connect to
  C: line            a command line, CRLF added; C+: raw bytes with \\ escapes
  S: code [x.y.z] [fragment]   a reply (S: code =text: exactly that text),
                     S: closed   the server closes the connection
  T: tls             the TLS handshake (after a 220 to STARTTLS)
  M: address +N      that mailbox holds N more messages afterwards
  Q: +N              the outbound queue holds N more entries afterwards
{c*N} in a C line repeats c N times; a suite adds its own macros.
"""

import codecs
import re
import socket

from aviary_test.certificates import HOSTNAME
from aviary_test.smtp import ConnectionClosed

ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def expand_repeats(text):
    """{c*N} -> c repeated N times."""
    return re.sub(r"\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)


def parse_dialogue(path, expand=expand_repeats, listeners=("submission", "submissions", "smtp"),
                   default_listener="smtp"):
    """(listener, [(kind, payload, line number)]) of a dialogue file."""
    listener = default_listener
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
            if steps or rest not in listeners:
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


class DialoguePlayer:
    """A mixin for a test case: run_dialogue(path) plays one script.

    The case provides connect(listener) -> (client, replies already read),
    and self.daemon (an Aviary) and tls_context()."""

    default_listener = "smtp"
    quit_wait = 2.0  # seconds to wait for the close after a final QUIT

    def expand(self, text):
        return expand_repeats(text)

    def mailbox_size(self, address):
        return len(self.daemon.store.mailbox(address))

    def queue_size(self):
        return len(self.daemon.store.queue())

    def run_dialogue(self, path):
        listener, steps = parse_dialogue(path, self.expand, default_listener=self.default_listener)
        deltas = {}
        queue_delta = None
        for kind, payload, _number in steps:
            if kind == "mailbox":
                deltas[payload[0]] = deltas.get(payload[0], 0) + payload[1]
            elif kind == "queue":
                queue_delta = (queue_delta or 0) + payload
        before = {address: self.mailbox_size(address) for address in deltas}
        queue_before = self.queue_size() if queue_delta is not None else None
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
            c.wait_closed(self.quit_wait)
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected bytes after the script")
        elif not closed:
            # Nothing beyond what the script expects (e.g. replies to smuggled
            # or discarded commands).
            c.send("NOOP\r\n")
            self.assertReply(c.reply(), "250", what=f"{path.name}: NOOP after the script (an extra reply?)")
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected extra bytes")
        c.close()
        for address, delta in deltas.items():
            self.assertEqual(self.mailbox_size(address) - before[address], delta,
                             f"{path.name}: messages stored for {address}")
        if queue_delta is not None:
            self.assertEqual(self.queue_size() - queue_before, queue_delta,
                             f"{path.name}: new outbound queue entries")
