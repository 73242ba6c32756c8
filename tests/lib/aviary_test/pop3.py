"""A byte-exact POP3 client that checks the framing of every response."""

import re
import socket
import time

from aviary_test.certificates import HOSTNAME
from aviary_test.connection import Connection
from aviary_test.sasl import plain_token
from aviary_test.smtp import dot_stuff

class Response:
    """One status line: ok (+OK) or not (-ERR), its text and RFC 2449 code."""

    CODE = re.compile(r"^\[([A-Za-z0-9/-]+)\]")

    def __init__(self, raw):
        self.raw = raw  # the whole line with CRLF
        line = raw[:-2].decode("utf-8", "replace")
        if line == "+OK" or line.startswith("+OK "):
            self.ok = True
            self.text = line[4:]
        elif line == "-ERR" or line.startswith("-ERR "):
            self.ok = False
            self.text = line[5:]
        else:
            raise AssertionError(f"not a POP3 status line: {raw!r}")
        m = self.CODE.match(self.text)
        self.code = m.group(1).upper() if m else None

    def __repr__(self):
        return repr(self.raw)


class Pop3Error(AssertionError):
    pass


class Pop3Client(Connection):
    """A POP3 client that sends exactly the bytes a test asks for.

    tls=True connects with implicit TLS (POP3S). Every response line must end
    in CRLF; multi-line responses are checked for dot-stuffing."""

    recv_size = 1 << 18
    closed_errors = OSError
    tls_go_ahead = "+OK to STLS"
    error = Pop3Error

    def __init__(self, port, host="127.0.0.1", tls=False, context=None, timeout=15.0,
                 source=None, greeting=True, server_hostname=HOSTNAME):
        super().__init__(port, host, timeout, source)
        try:
            if tls:
                self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
                self.tls = True
            self.greeting = self.response() if greeting else None
        except BaseException:
            self.close()
            raise

    # -- raw I/O --------------------------------------------------------------

    def read_line(self, timeout=None):
        """One line including its line end, as bytes; must end in CRLF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
                    raise Pop3Error(f"response line not ended by exactly one CRLF: {line[-80:]!r}")
                return line
            start = len(self.buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"no complete line from the server (have {bytes(self.buf[:80])!r})")
            self._fill(left)

    def response(self, timeout=None):
        return Response(self.read_line(timeout))

    def multiline(self, timeout=None):
        """The body of a multi-line response after its status line.

        Returns (lines, raw): the lines dot-unstuffed, each with its CRLF,
        and the raw bytes as sent (up to and including the final '.')."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        scanned = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                end = 3
                break
            i = self.buf.find(b"\r\n.\r\n", max(0, scanned - 4))
            if i >= 0:
                end = i + 5
                break
            scanned = len(self.buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout(f"multi-line response not terminated (have {len(self.buf)} bytes)")
            self._fill(left)
        raw = bytes(self.buf[:end])
        del self.buf[:end]
        body = raw[:-3]
        if b"\n" in body.replace(b"\r\n", b"") or b"\r" in body.replace(b"\r\n", b""):
            raise Pop3Error("bare CR or LF in a multi-line response")
        lines = []
        for line in body.split(b"\r\n")[:-1] if body else []:
            if line.startswith(b"."):
                if not line.startswith(b".."):
                    raise Pop3Error(f"line starting with '.' not dot-stuffed: {line[:80]!r}")
                line = line[1:]
            lines.append(line + b"\r\n")
        return lines, raw

    # -- commands -------------------------------------------------------------

    def cmd(self, line, timeout=None):
        self.send((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\r\n")
        return self.response(timeout)

    def cmd_multi(self, line, timeout=None):
        """A command with a multi-line answer: (status, lines or None)."""
        r = self.cmd(line, timeout)
        if not r.ok:
            return r, None
        lines, _raw = self.multiline(timeout)
        return r, lines

    def capa(self):
        r, lines = self.cmd_multi("CAPA")
        if not r.ok:
            raise Pop3Error(f"CAPA refused: {r!r}")
        return [l[:-2].decode("utf-8") for l in lines]

    def capabilities(self):
        """{TAG: [args]} from CAPA."""
        out = {}
        for line in self.capa():
            parts = line.split()
            if parts:
                out[parts[0].upper()] = parts[1:]
        return out

    def stls(self, context, server_hostname=HOSTNAME):
        r = self.cmd("STLS")
        if not r.ok:
            raise Pop3Error(f"STLS refused: {r!r}")
        self.handshake(context, server_hostname)
        return r

    def user_pass(self, user, password):
        """USER then PASS; returns the PASS response (or the USER one if refused)."""
        r = self.cmd(f"USER {user}")
        if not r.ok:
            return r
        return self.cmd(f"PASS {password}")

    def auth_plain(self, user, password, initial=True, authzid=""):
        token = plain_token(user, password, authzid)
        if initial:
            return self.cmd(f"AUTH PLAIN {token}")
        self.send(b"AUTH PLAIN\r\n")
        line = self.read_line()
        if not line.startswith(b"+ ") and line != b"+\r\n":
            return Response(line)
        return self.cmd(token)

    def login(self, user, password):
        r = self.user_pass(user, password)
        if not r.ok:
            raise Pop3Error(f"login of {user} refused: {r!r}")
        return r

    def stat(self):
        r = self.cmd("STAT")
        m = re.fullmatch(r"(\d+) (\d+)", r.text) if r.ok else None
        if not m:
            raise Pop3Error(f"STAT: {r!r}")
        return int(m.group(1)), int(m.group(2))

    def _listing(self, command, line, value):
        """{n: value(second field)} of a multi-line answer whose every line fullmatches `line`."""
        r, lines = self.cmd_multi(command)
        if not r.ok:
            raise Pop3Error(f"{command}: {r!r}")
        out = {}
        for raw in lines:
            m = re.fullmatch(line, raw)
            if not m:
                raise Pop3Error(f"{command} line {raw!r}")
            out[int(m.group(1))] = value(m.group(2))
        return out

    def list(self):
        """{n: size} from LIST."""
        return self._listing("LIST", rb"(\d+) (\d+)\r\n", int)

    def uidl(self):
        """{n: uid} from UIDL."""
        return self._listing("UIDL", rb"(\d+) ([\x21-\x7e]{1,70})\r\n", bytes.decode)

    def retr(self, n, timeout=None):
        """The message as bytes (dot-unstuffed); checks '+OK <size> octets'."""
        r = self.cmd(f"RETR {n}", timeout)
        if not r.ok:
            raise Pop3Error(f"RETR {n}: {r!r}")
        lines, _raw = self.multiline(timeout)
        data = b"".join(lines)
        m = re.match(r"(\d+) octets", r.text)
        if not m:
            raise Pop3Error(f"RETR {n}: status line is not '+OK <size> octets': {r!r}")
        if int(m.group(1)) != len(data):
            raise Pop3Error(f"RETR {n}: announced {m.group(1)} octets, sent {len(data)}")
        return data

    def quit(self):
        r = self.cmd("QUIT")
        if not r.ok:
            raise Pop3Error(f"QUIT: {r!r}")
        return r


def unstuffed_equal_raw(data):
    """What a RETR of `data` must look like on the wire after the status line."""
    return dot_stuff(data) + b".\r\n"

