"""test_dialogues.py - the SMTP replies of aviary-smtpd on port 25.

Plays every dialogues/*.txt script (format in dialogues/README.txt) as one
subTest, then checks what a script cannot say well: the EHLO keyword list
and pipelined command groups (RFC 2920).
"""

import codecs
import re
import socket
import unittest

from harness import HERE, ConnectionClosed, DaemonTestCase, message

DIALOGUES = HERE / "dialogues"
ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def expand(text):
    """{c*N} -> c repeated N times."""
    return re.sub(r"\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)


def parse_dialogue(path):
    """[(kind, payload, line number)] of a dialogue file."""
    steps = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip() or line.startswith("#"):
            continue
        kind, sep, rest = line.partition(":")
        if not sep or kind not in ("C", "C+", "S", "M"):
            raise ValueError(f"{path.name}:{number}: cannot parse {line!r}")
        if rest.startswith(" "):
            rest = rest[1:]
        if kind == "C":
            steps.append(("send", expand(rest).encode("utf-8") + b"\r\n", number))
        elif kind == "C+":
            steps.append(("send", codecs.escape_decode(expand(rest).encode("utf-8"))[0], number))
        elif kind == "S":
            if rest.strip() == "closed":
                steps.append(("closed", None, number))
                continue
            parts = rest.split(" ", 1)
            code, tail = parts[0], (parts[1] if len(parts) > 1 else "")
            enhanced = None
            first, _, after = tail.partition(" ")
            if ENHANCED.match(first):
                enhanced, tail = first, after
            steps.append(("reply", (code, enhanced, tail.strip() or None), number))
        else:  # M: address +N
            address, delta = rest.rsplit(" ", 1)
            steps.append(("mailbox", (address.strip(), int(delta)), number))
    return steps


class DialogueTest(DaemonTestCase):

    def run_dialogue(self, path):
        steps = parse_dialogue(path)
        deltas = {}
        for kind, payload, _number in steps:
            if kind == "mailbox":
                deltas[payload[0]] = deltas.get(payload[0], 0) + payload[1]
        before = {address: self.daemon.count(address) for address in deltas}
        c = self.client(greeting=False)
        closed = False
        last_sent = b""
        for kind, payload, number in steps:
            where = f"{path.name}:{number}"
            if kind == "send":
                self.assertFalse(closed, f"{where}: the server already closed the connection")
                c.send(payload)
                last_sent = payload
            elif kind == "reply":
                try:
                    reply = c.reply()
                except (ConnectionClosed, socket.timeout, OSError) as e:
                    self.fail(f"{where}: expected a reply {payload}, got {e!r}")
                self.assertReply(reply, *payload, what=where)
            elif kind == "closed":
                self.assertTrue(c.wait_closed(10), f"{where}: the server did not close the connection")
                self.assertEqual(c.pending(), b"", f"{where}: unexpected bytes before the close")
                closed = True
        if not closed and last_sent.upper() == b"QUIT\r\n":
            c.wait_closed(0.5)
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected bytes after the script")
        elif not closed:
            # Nothing beyond what the script expects (e.g. replies to smuggled commands).
            c.send("NOOP\r\n")
            reply = c.reply()
            self.assertReply(reply, "250", what=f"{path.name}: NOOP after the script (an extra reply?)")
            self.assertEqual(c.pending(), b"", f"{path.name}: unexpected extra bytes")
        c.close()
        for address, delta in deltas.items():
            self.assertEqual(self.daemon.count(address) - before[address], delta,
                             f"{path.name}: messages stored for {address}")

    def test_dialogues(self):
        files = sorted(p for p in DIALOGUES.glob("*.txt") if p.name != "README.txt")
        self.assertGreaterEqual(len(files), 19)
        for path in files:
            with self.subTest(dialogue=path.name):
                self.run_dialogue(path)

    def test_greeting_names_host(self):
        c = self.client()
        self.assertReply(c.greeting, "220")
        self.assertTrue(c.greeting.lines[0].startswith("mail.example.test "), repr(c.greeting))
        self.assertIn("ESMTP", c.greeting.lines[0])

    def test_ehlo_keywords(self):
        c = self.client()
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertTrue(r.lines[0].startswith("mail.example.test"), repr(r))
        kw = r.keywords()
        for wanted in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                       "STARTTLS", "CHUNKING"):
            self.assertIn(wanted, kw, repr(r))
        self.assertNotIn("AUTH", kw, "no AUTH on port 25")
        self.assertEqual(len(kw), len(set(kw)), f"a keyword advertised twice:\n{r!r}")
        size = [line for line in r.lines[1:] if line.upper().startswith("SIZE")]
        self.assertEqual(size, ["SIZE 1048576"], "SIZE must carry max_message_size (1MiB)")

    def test_helo_has_no_extensions(self):
        c = self.client()
        r = c.cmd("HELO client.example.net")
        self.assertReply(r, "250")
        self.assertEqual(len(r.lines), 1, f"HELO must answer one line:\n{r!r}")

    def test_ehlo_without_domain(self):
        c = self.client()
        self.assertReply(c.cmd("EHLO"), "501")

    def test_pipelined_transaction(self):
        """RFC 2920: EHLO, MAIL, RCPT, RCPT, DATA in one write, replies in order."""
        before = {a: self.daemon.count(a) for a in ("alice@example.test", "bob@example.test")}
        c = self.client()
        c.send("EHLO client.example.net\r\nMAIL FROM:<sender@remote.test>\r\n"
               "RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        ehlo = c.reply()
        self.assertReply(ehlo, "250")
        self.assertIn("PIPELINING", ehlo.keywords())
        self.assertReply(c.reply(), "250", "2.1.0")
        self.assertReply(c.reply(), "250", "2.1.5")
        self.assertReply(c.reply(), "250", "2.1.5")
        self.assertReply(c.reply(), "354")
        # End of data, a new transaction and QUIT, again in one write.
        c.send(message("pipelined 1") + b".\r\nMAIL FROM:<sender@remote.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.reply(), "550", "5.1.1")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.reply(), "354")
        c.send(message("pipelined 2") + b".\r\nQUIT\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertReply(c.reply(), "221")
        self.assertClosed(c)
        self.assertEqual(self.daemon.count("alice@example.test"), before["alice@example.test"] + 2)
        self.assertEqual(self.daemon.count("bob@example.test"), before["bob@example.test"] + 1)

    def test_pipelined_bdat(self):
        """MAIL, RCPT and BDAT LAST with its chunk in one write (RFC 3030 §4.2)."""
        before = self.daemon.count("bob@example.test")
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        body = message("pipelined bdat")
        c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               + f"BDAT {len(body)} LAST\r\n".encode() + body + b"RSET\r\nNOOP\r\n")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.reply(), "250")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertEqual(self.daemon.count("bob@example.test"), before + 1)

    def test_pipelined_errors_do_not_desync(self):
        """A pipelined group with errors still gets exactly one reply per command."""
        c = self.client()
        self.assertReply(c.ehlo(), "250")
        commands = ["FOO", "RCPT TO:<alice@example.test>", "MAIL FROM:<sender@remote.test>",
                    "RCPT TO:<someone@elsewhere.test>", "RSET", "NOOP"]
        c.send("".join(x + "\r\n" for x in commands))
        expected = [("500",), ("503", "5.5.1"), ("250",), ("554", "5.7.1"), ("250",), ("250",)]
        for cmd, exp in zip(commands, expected):
            self.assertReply(c.reply(), *exp, what=cmd)
        self.assertFalse(c.wait_closed(0.5), "the server closed the connection")
        self.assertEqual(c.pending(), b"", "extra bytes after the replies")


if __name__ == "__main__":
    unittest.main()
