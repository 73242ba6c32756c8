"""test_session_hardening.py - the SMTP session defects of issue 11, each
against the real daemon on loopback:

  item 11  BDAT data of an abandoned transaction (RSET, EHLO, HELO, STARTTLS)
           is never put in front of the next message;
  item 13  the junk-command limit (NOOP/RSET/VRFY/EXPN/HELP, default 100),
           reset by a delivered message;
  item 14  452s for excess recipients are not errors: DATA is still read;
  item 15  more than smtpd.max_hops (50) Received: fields: 554 5.4.0;
  item 18  EHLO does not offer BINARYMIME;
  item 21  a spill-file failure is 451 4.3.0, the session goes on;
  item 22  a HELO/EHLO name that is not a domain or address literal is kept,
           quoted, in Received:.
"""

import shutil
import unittest

from aviary_test.messages import message, split_trace
from aviary_test.smtp import ConnectionClosed, expect
from aviary_test.smtpd_case import SmtpdTestCase


def injected_chunk(size=200):
    """Header fields an attacker would like in front of someone's message."""
    head = b"X-Injected: yes\r\nFrom: <ceo@example.test>\r\nX-Pad: "
    return head + b"p" * (size - len(head) - 2) + b"\r\n"


class AbandonedChunksTest(SmtpdTestCase):
    """Item 11: chunk state belongs to the transaction."""

    def start_chunk(self, c):
        expect(c.cmd("MAIL FROM:<attacker@remote.test>"), "250")
        expect(c.cmd("RCPT TO:<alice@example.test>"), "250")
        chunk = injected_chunk()
        c.send(f"BDAT {len(chunk)}\r\n".encode() + chunk)
        self.assertReply(c.reply(), "250", "2.0.0")

    def assertClean(self, before, body):
        stored = self.daemon.messages("alice@example.test")
        self.assertEqual(len(stored), before + 1)
        self.assertNotIn(b"X-Injected", stored[-1])
        self.assertEqual(split_trace(stored[-1])[1], body, "exactly the new message")

    def test_rset_discards_chunks(self):
        before = self.daemon.count("alice@example.test")
        body = message("after rset")
        c = self.client()
        expect(c.ehlo(), "250")
        self.start_chunk(c)
        self.assertReply(c.cmd("RSET"), "250")
        self.assertReply(c.bdat("sender@remote.test", ["alice@example.test"], [body]), "250", "2.0.0")
        self.assertClean(before, body)

    def test_ehlo_and_helo_discard_chunks(self):
        for hello in ("EHLO again.example.net", "HELO again.example.net"):
            with self.subTest(hello):
                before = self.daemon.count("alice@example.test")
                body = message("after " + hello.split()[0])
                c = self.client()
                expect(c.ehlo(), "250")
                self.start_chunk(c)
                self.assertReply(c.cmd(hello), "250")
                if hello.startswith("HELO"):
                    expect(c.ehlo(), "250")  # BDAT needs EHLO's CHUNKING
                self.assertReply(c.bdat("sender@remote.test", ["alice@example.test"], [body]), "250")
                self.assertClean(before, body)

    def test_starttls_discards_chunks(self):
        before = self.daemon.count("alice@example.test")
        body = message("inside tls")
        c = self.client()
        expect(c.ehlo(), "250")
        self.start_chunk(c)
        c.starttls(self.daemon.tls_context())
        expect(c.ehlo(), "250")
        self.assertReply(c.bdat("sender@remote.test", ["alice@example.test"], [body]), "250")
        self.assertClean(before, body)

    def test_chunks_of_a_failed_transaction_are_gone(self):
        """A chunk over the size limit ends the transaction; what came before
        it is gone too."""
        before = self.daemon.count("alice@example.test")
        body = message("after a refused chunk")
        c = self.client()
        expect(c.ehlo(), "250")
        self.start_chunk(c)
        big = b"x" * (1024 * 1024 + 1)
        c.send(f"BDAT {len(big)}\r\n".encode() + big)
        self.assertReply(c.reply(), "552", "5.3.4")
        self.assertReply(c.cmd("RSET"), "250")
        self.assertReply(c.bdat("sender@remote.test", ["alice@example.test"], [body]), "250")
        self.assertClean(before, body)


class JunkCommandTest(SmtpdTestCase):
    """Item 13: smtpd.junk_command_limit, default 100."""

    def test_101st_junk_command_closes(self):
        c = self.client()
        expect(c.ehlo(), "250")
        junk = ["NOOP", "RSET", "VRFY alice", "HELP"]  # EXPN too, but its 502 is an error
        c.send("".join(junk[i % len(junk)] + "\r\n" for i in range(100)))
        for i in range(100):
            r = c.reply()
            self.assertNotEqual(r.code, 421, f"junk command {i + 1}")
        r = c.cmd("NOOP")
        self.assertReply(r, "421", "4.7.0", "junk")
        self.assertClosed(c)

    def test_delivered_message_resets_the_count(self):
        before = self.daemon.count("bob@example.test")
        c = self.client()
        expect(c.ehlo(), "250")
        for round_ in range(3):
            c.send("NOOP\r\n" * 80)
            for _ in range(80):
                self.assertReply(c.reply(), "250")
            self.assertReply(c.transaction("sender@remote.test", ["bob@example.test"], message(f"junk {round_}")),
                             "250", "2.0.0")
        self.assertReply(c.cmd("QUIT"), "221")
        self.assertEqual(self.daemon.count("bob@example.test"), before + 3)


class ConfiguredJunkLimitTest(SmtpdTestCase):
    smtpd_options = {"junk_command_limit": 3}

    def test_configured_limit(self):
        c = self.client()
        for _ in range(3):
            self.assertReply(c.cmd("NOOP"), "250")
        self.assertReply(c.cmd("RSET"), "421", "4.7.0")
        self.assertClosed(c)


class ExcessRecipientsTest(SmtpdTestCase):
    """Item 14: max_recipients = 5, max_errors = 10; 15 excess recipients get
    452 and the session still reads DATA (RFC 5321 §4.5.3.1.10)."""

    def test_twenty_recipients(self):
        before = self.daemon.count("alice@example.test")
        c = self.client()
        expect(c.ehlo(), "250")
        expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        c.send("".join(f"RCPT TO:<alice+{i}@example.test>\r\n" for i in range(20)))
        codes = [c.reply() for _ in range(20)]
        for i, r in enumerate(codes):
            self.assertReply(r, "250" if i < 5 else "452", "2.1.5" if i < 5 else "4.5.3", what=f"RCPT {i + 1}")
        self.assertReply(c.cmd("DATA"), "354")
        c.send(message("twenty recipients") + b".\r\n")
        self.assertReply(c.reply(), "250", "2.0.0")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)
        # Still far from the error limit: real errors count as before.
        self.assertReply(c.cmd("NOOP"), "250")


def with_received(n, subject):
    fields = b"".join(b"Received: from hop%d.example.net by hop%d.example.net; Mon, 30 Nov 2026 10:00:00 +0000\r\n"
                      % (i, i + 1) for i in range(n))
    return fields + message(subject)


class MaxHopsTest(SmtpdTestCase):
    """Item 15: a message with more than 50 Received: fields is a loop."""

    def test_hops(self):
        c = self.client()
        expect(c.ehlo(), "250")
        for hops, code in ((30, "250"), (50, "250"), (51, "554"), (200, "554")):
            for bdat in (False, True):
                with self.subTest(hops=hops, bdat=bdat):
                    before = self.daemon.count("bob@example.test")
                    body = with_received(hops, f"{hops} hops")
                    if bdat:
                        r = c.bdat("sender@remote.test", ["bob@example.test"], [body[:100], body[100:]])
                    else:
                        r = c.transaction("sender@remote.test", ["bob@example.test"], body)
                    self.assertReply(r, code, "5.4.0" if code == "554" else "2.0.0")
                    self.assertEqual(self.daemon.count("bob@example.test"), before + (code == "250"))
                    self.assertReply(c.cmd("RSET"), "250")

    def test_received_in_the_body_does_not_count(self):
        body = message("received in body", body=b"Received: x\r\n" * 60)
        c = self.client()
        expect(c.ehlo(), "250")
        self.assertReply(c.transaction("sender@remote.test", ["bob@example.test"], body), "250")


class ConfiguredMaxHopsTest(SmtpdTestCase):
    smtpd_options = {"max_hops": 5}

    def test_configured_limit(self):
        c = self.client()
        expect(c.ehlo(), "250")
        self.assertReply(c.transaction("sender@remote.test", ["bob@example.test"], with_received(5, "five")), "250")
        self.assertReply(c.transaction("sender@remote.test", ["bob@example.test"], with_received(6, "six")),
                         "554", "5.4.0")


class EhloTest(SmtpdTestCase):

    def test_binarymime_not_offered(self):
        """Item 18."""
        c = self.client()
        r = c.ehlo()
        self.assertIn("CHUNKING", r.keywords())
        self.assertNotIn("BINARYMIME", r.keywords())

    def test_invalid_helo_quoted_in_received(self):
        """Item 22: '(', ')' and 8-bit bytes never reach Received: raw."""
        cases = [
            (b"evil(x)\xc3\xa9", b'"evil\\(x\\)\\xC3\\xA9"'),
            (b"a)(by forged.example", None),  # two words: 501, not a name
            (b"my_pc", b'"my_pc"'),
            (b"[192.0.2.1]", b"[192.0.2.1]"),
            (b"client.example.net", b"client.example.net"),
        ]
        for name, shown in cases:
            with self.subTest(name=name):
                c = self.client()
                r = c.cmd(b"EHLO " + name)
                if shown is None:
                    self.assertReply(r, "501")
                    continue
                self.assertReply(r, "250")
                self.assertTrue(r.lines[0].endswith("Hello " + shown.decode()), repr(r))
                before = self.daemon.count("carol@example.org")
                self.assertReply(c.transaction("sender@remote.test", ["carol@example.org"], message("helo")), "250")
                stored = self.daemon.messages("carol@example.org")
                self.assertEqual(len(stored), before + 1)
                received = stored[-1][stored[-1].index(b"Received:"):]
                received = received[:received.index(b"; ")]
                self.assertTrue(received.startswith(b"Received: from " + shown + b" ([127.0.0.1])"), received)
                self.assertTrue(all(b < 0x80 for b in received), received)


class SpillFailureTest(SmtpdTestCase):
    """Item 21: bodies over 256 KiB go to a file in <store>/tmp; when that
    fails the client hears 451 4.3.0 and the session goes on."""

    def test_spill_failure_is_451(self):
        spill = self.daemon.store_path / "tmp"
        before = self.daemon.count("alice@example.test")
        big = message("big", body=(b"y" * 998 + b"\r\n") * 400)  # 400 KB
        c = self.client()
        expect(c.ehlo(), "250")
        shutil.rmtree(spill)
        try:
            r = c.transaction("sender@remote.test", ["alice@example.test"], big)
            self.assertReply(r, "451", "4.3.0")
            self.assertReply(c.cmd("NOOP"), "250", what="the session after the spill failure")
            # BDAT: the chunk that cannot be kept is 451; the rest is read
            # and refused (503) until a new transaction.
            expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
            expect(c.cmd("RCPT TO:<alice@example.test>"), "250")
            c.send(b"BDAT 300000\r\n" + big[:300000])
            self.assertReply(c.reply(), "451", "4.3.0")
            c.send(f"BDAT {len(big) - 300000} LAST\r\n".encode() + big[300000:])
            self.assertReply(c.reply(), "503", "5.5.1")
            self.assertReply(c.cmd("RSET"), "250")
        except ConnectionClosed:
            self.fail("the connection was dropped instead of 451")
        finally:
            spill.mkdir(mode=0o700, exist_ok=True)
        self.assertEqual(self.daemon.count("alice@example.test"), before)
        self.assertReply(c.transaction("sender@remote.test", ["alice@example.test"], big), "250")
        self.assertEqual(self.daemon.count("alice@example.test"), before + 1)


if __name__ == "__main__":
    unittest.main()
