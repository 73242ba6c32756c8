"""A byte-exact SMTP client: sends exactly the bytes a test asks for and
parses replies, multi-line ones included."""

import re
import socket
import time

from aviary_test.certificates import HOSTNAME
from aviary_test.connection import Connection, ConnectionClosed


class Reply:
    """One SMTP reply: code, enhanced status code of the first line, lines."""

    ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # text after "ddd-" / "ddd " of each line, str
        m = self.ENHANCED.match(lines[0]) if lines else None
        self.enhanced = m.group(0) if m else None

    @property
    def text(self):
        return "\n".join(self.lines)

    def keywords(self):
        """EHLO keywords (uppercased first word of each line after the first)."""
        return [line.split()[0].upper() for line in self.lines[1:] if line.split()]

    def __repr__(self):
        return "\n".join(f"{self.code}{'-' if i + 1 < len(self.lines) else ' '}{line}"
                         for i, line in enumerate(self.lines)) or f"{self.code}"

    def matches(self, code, enhanced=None, fragment=None):
        """code may be a string with 'x' wildcards ('5xx'), or alternatives 'a|b'."""
        code_ok = any(re.fullmatch(alt.replace("x", r"\d"), f"{self.code:03d}")
                      for alt in str(code).split("|"))
        if not code_ok:
            return False
        if enhanced is not None and self.enhanced != enhanced:
            return False
        if fragment is not None and fragment.lower() not in self.text.lower():
            return False
        return True


def expect(reply, code, enhanced=None, fragment=None, what=""):
    if not reply.matches(code, enhanced, fragment):
        want = " ".join(str(p) for p in (code, enhanced, fragment) if p is not None)
        raise AssertionError(f"{what + ': ' if what else ''}expected {want}, got:\n{reply!r}")
    return reply


def dot_stuff(data):
    """RFC 5321 §4.5.2: a leading '.' of a line is doubled. data ends in CRLF."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    assert data == b"" or data.endswith(b"\r\n"), "message data must end in CRLF"
    return re.sub(rb"(^|\r\n)\.", rb"\1..", data)


class SmtpClient(Connection):
    """A byte-exact SMTP client over one socket (plain, then maybe TLS)."""

    def __init__(self, port, host="127.0.0.1", timeout=15.0, source=None, greeting=True):
        super().__init__(port, host, timeout, source)
        try:
            self.greeting = self.reply() if greeting else None
        except BaseException:
            self.close()
            raise

    # -- raw I/O --------------------------------------------------------------

    def read_line(self, timeout=None):
        """One line including its CRLF, as bytes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete line from the server")
            self._fill(left)

    def reply(self, timeout=None):
        """Reads one complete (possibly multi-line) reply."""
        lines = []
        code = None
        for _ in range(1000):  # bounded: no sane reply has more lines
            raw = self.read_line(timeout)
            if not raw.endswith(b"\r\n"):
                raise AssertionError(f"reply line not ended by CRLF: {raw!r}")
            text = raw[:-2].decode("utf-8", "replace")
            m = re.match(r"^(\d{3})([ -])(.*)$", text) or re.match(r"^(\d{3})()$", text)
            if not m:
                raise AssertionError(f"malformed reply line: {raw!r}")
            if code is not None and int(m.group(1)) != code:
                raise AssertionError(f"multi-line reply changes code: {lines!r} then {raw!r}")
            code = int(m.group(1))
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines)
        raise AssertionError("reply with more than 1000 lines")

    # -- commands -------------------------------------------------------------

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example.net"):
        return self.cmd(f"EHLO {name}")

    def starttls(self, context, server_hostname=HOSTNAME):
        """STARTTLS, asserts 220 and that nothing else came, then handshakes."""
        r = self.cmd("STARTTLS")
        if r.code != 220:
            raise AssertionError(f"STARTTLS answered {r!r}")
        self.handshake(context, server_hostname)
        return r

    def _envelope(self, sender, recipients, body_param):
        params = f" BODY={body_param}" if body_param else ""
        expect(self.cmd(f"MAIL FROM:<{sender}>{params}"), "250")
        for rcpt in recipients:
            expect(self.cmd(f"RCPT TO:<{rcpt}>"), "250")

    def transaction(self, sender, recipients, data, body_param=None):
        """MAIL, RCPT..., DATA, dot-stuffed data; returns the final reply.

        Asserts every step before the end of data is accepted."""
        self._envelope(sender, recipients, body_param)
        expect(self.cmd("DATA"), "354")
        self.send(dot_stuff(data) + b".\r\n")
        return self.reply()

    def bdat(self, sender, recipients, chunks, body_param=None):
        """MAIL, RCPT..., one BDAT per chunk (the last with LAST); final reply."""
        self._envelope(sender, recipients, body_param)
        for i, chunk in enumerate(chunks):
            last = " LAST" if i + 1 == len(chunks) else ""
            self.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            r = self.reply()
            if last:
                return r
            expect(r, "250")
        raise AssertionError("bdat() needs at least one chunk")

    def quit_quietly(self):
        """QUIT, not caring whether the reply comes (a probe, an injection)."""
        try:
            self.cmd("QUIT")
        except (OSError, ConnectionClosed):
            pass
