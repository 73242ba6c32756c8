"""test_dialogues.py - the SMTP replies of aviary-smtpd on port 25.

Plays every dialogues/*.txt script (format in dialogues/README.txt) as one
subTest, then checks what a script cannot say well: the EHLO keyword list
and pipelined command groups (RFC 2920).
"""

import unittest
from pathlib import Path

from aviary_test.dialogue import DialoguePlayer
from aviary_test.messages import message
from aviary_test.smtpd_case import SmtpdTestCase

DIALOGUES = Path(__file__).resolve().parent / "dialogues"


class DialogueTest(DialoguePlayer, SmtpdTestCase):

    quit_wait = 0.5

    def connect(self, listener):
        # The greeting is the script's first S: line.
        return self.client(greeting=False), []

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
