"""harness.py - run the real aviary-smtpd on loopback and talk SMTP to it.

The pieces every test file of this folder shares:
  Daemon        a temporary setup (certificate, aviary.toml, LMDB store made
                with aviaryctl) and the aviary-smtpd process on free ports;
  SmtpClient    a raw-socket SMTP client that sends exactly the bytes a test
                asks for and parses replies, multi-line ones included;
  StoreReader   reads what the daemon committed, byte for byte, from LMDB
                (read-only, with LMDB's lock so that it is safe beside the
                running daemon);
  DaemonTestCase  a unittest base class: one daemon per class, alive-check
                after every test, clean SIGTERM exit at the end.

Only the standard library and Debian's python3-lmdb are used. Every wait is
bounded in time; everything listens on and connects to loopback only.
"""

import json
import os
import re
import shutil
import signal
import random
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOSTNAME = "mail.example.test"


def bin_dir():
    """The build's bin/ directory: AVIARY_BIN from ctest, else build/bin."""
    env = os.environ.get("AVIARY_BIN")
    if env:
        return Path(env)
    return HERE.parents[2] / "build" / "bin"


def program(name):
    path = bin_dir() / name
    if not path.exists():
        # A failure, not a skip: under ctest the programs are always built.
        raise AssertionError(f"{path} does not exist (build first, or set AVIARY_BIN)")
    return str(path)


def sanitized_build():
    """True when the programs are an AddressSanitizer build (tools/test.sh
    --sanitize): memory figures then measure ASan's shadow and quarantine,
    and valgrind cannot run them."""
    cache = bin_dir().parent / "CMakeCache.txt"
    try:
        return "AVIARY_SANITIZE:BOOL=ON" in cache.read_text(errors="replace")
    except OSError:
        return False


def rss_anon_kib(pid):
    """RssAnon of a process in KiB (anonymous memory, not the LMDB map)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/PID/status")


def settled_rss_kib(pid, step=0.25, timeout=5.0):
    """RssAnon once it stopped changing by 64 KiB a step (bounded)."""
    last = rss_anon_kib(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(step)
        now = rss_anon_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


def slow_reader_socket(port):
    """A socket connected to 127.0.0.1:port that takes replies slowly: a
    small window and small segments, set before connect, so that the
    daemon's kernel send buffer stays small too (Linux sizes it from the
    MSS) and what the daemon queues beyond it shows in its memory."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


_handed_out = set()


def relay_section():
    """[relay] for suites about receiving: queued mail stays queued. The queue
    runner's only next hop is a loopback port nobody listens on (connection
    refused: deferred, next try in an hour), so it never asks a real DNS
    server and never removes what a test wants to look at."""
    return ["[relay]", f'smarthost = "127.0.0.1:{free_port()}"', 'retry = ["1h"]', ""]


def free_port():
    """A port nobody listens on right now.

    Picked at random below the kernel's ephemeral range (32768-60999): a port
    from bind(0) comes from that range, where every parallel test picks its
    own the same way, and two of them may be handed the same free port before
    either daemon has bound it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise AssertionError("no free port found in 20000-32000")


def make_certificate(directory):
    """A self-signed EC certificate for HOSTNAME; returns (cert, key) paths."""
    cert = Path(directory) / "cert.pem"
    key = Path(directory) / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={HOSTNAME}", "-addext", f"subjectAltName=DNS:{HOSTNAME}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return cert, key


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is JSON-compatible here


DEFAULT_SMTPD = {
    "max_message_size": "1MiB",
    "max_recipients": 5,
    "max_connections": 300,
    "max_connections_per_ip": 250,
    "max_errors": 10,
    "command_timeout": "5m",
    "data_timeout": "3m",
    "shutdown_timeout": "5s",
    "io_threads": 2,
}


# ---------------------------------------------------------------------------
# Replies and the SMTP client.

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


class ConnectionClosed(Exception):
    pass


class SmtpClient:
    """A byte-exact SMTP client over one socket (plain, then maybe TLS)."""

    def __init__(self, port, host="127.0.0.1", timeout=15.0, source=None, greeting=True):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.tls = False
        try:
            self.greeting = self.reply() if greeting else None
        except BaseException:
            self.close()
            raise

    # -- raw I/O --------------------------------------------------------------

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            chunk = self.sock.recv(65536)
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            raise ConnectionClosed("the server closed the connection")
        self.buf += chunk

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

    def pending(self):
        """Bytes already received but not consumed."""
        return bytes(self.buf)

    def wait_closed(self, timeout=10.0):
        """True if the server closes within timeout (any unread data is dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            except ssl.SSLError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- commands -------------------------------------------------------------

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example.net"):
        return self.cmd(f"EHLO {name}")

    def starttls(self, context=None, server_hostname=HOSTNAME):
        """STARTTLS, asserts 220 and that nothing else came, then handshakes."""
        r = self.cmd("STARTTLS")
        if r.code != 220:
            raise AssertionError(f"STARTTLS answered {r!r}")
        self.handshake(context, server_hostname)
        return r

    def handshake(self, context=None, server_hostname=HOSTNAME):
        if self.buf:
            raise AssertionError(f"plaintext bytes after the 220 to STARTTLS: {bytes(self.buf)!r}")
        self.sock.settimeout(self.timeout)
        self.sock = (context or client_tls_context()).wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True

    def transaction(self, sender, recipients, data, body_param=None):
        """MAIL, RCPT..., DATA, dot-stuffed data; returns the final reply.

        Asserts every step before the end of data is accepted."""
        params = f" BODY={body_param}" if body_param else ""
        expect(self.cmd(f"MAIL FROM:<{sender}>{params}"), "250")
        for rcpt in recipients:
            expect(self.cmd(f"RCPT TO:<{rcpt}>"), "250")
        expect(self.cmd("DATA"), "354")
        self.send(dot_stuff(data) + b".\r\n")
        return self.reply()

    def bdat(self, sender, recipients, chunks, body_param=None):
        """MAIL, RCPT..., one BDAT per chunk (the last with LAST); final reply."""
        params = f" BODY={body_param}" if body_param else ""
        expect(self.cmd(f"MAIL FROM:<{sender}>{params}"), "250")
        for rcpt in recipients:
            expect(self.cmd(f"RCPT TO:<{rcpt}>"), "250")
        for i, chunk in enumerate(chunks):
            last = " LAST" if i + 1 == len(chunks) else ""
            self.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            r = self.reply()
            if last:
                return r
            expect(r, "250")
        raise AssertionError("bdat() needs at least one chunk")


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


def client_tls_context(cafile=None):
    """A context that verifies the daemon's certificate (set by the fixture)."""
    ctx = ssl.create_default_context(cafile=str(cafile or client_tls_context.cafile))
    return ctx


client_tls_context.cafile = None


def message(subject, body="Hello.\r\n", sender="sender@remote.test", extra=b""):
    """A small RFC 5322 message as bytes, CRLF line ends."""
    head = (f"From: <{sender}>\r\nTo: <rcpt@example.test>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@remote.test>\r\n").encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head + extra + b"\r\n" + body


# ---------------------------------------------------------------------------
# Reading the store.

USER_TABLE = b"users"
MAILBOX_TABLE = b"mailboxes"
BLOB_TABLE = b"blob_data"


class Decoder:
    def __init__(self, raw):
        self.raw = bytes(raw)
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.raw):
            raise ValueError("truncated record")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def str(self):
        return self.take(self.u32())


def fold_address(address):
    """The key form: ASCII letters lowercased, non-ASCII left alone."""
    return "".join(c.lower() if c.isascii() else c for c in address)


class StoreReader:
    """Read-only view of the daemon's LMDB store (storage/schema.hpp)."""

    def __init__(self, path):
        self.path = str(path)

    def _open(self):
        import lmdb  # Debian package python3-lmdb
        return lmdb.open(self.path, readonly=True, lock=True, max_dbs=16, subdir=True, create=False)

    def users(self):
        """{address: user dict} of every user."""
        env = self._open()
        try:
            with env.begin() as txn:
                return self._users(env, txn)
        finally:
            env.close()

    @staticmethod
    def _users(env, txn):
        out = {}
        db = env.open_db(USER_TABLE, txn=txn, create=False)
        for _key, raw in txn.cursor(db=db):
            d = Decoder(raw)
            if d.u8() != 1:
                raise ValueError("unknown user record version")
            user = {"address": d.str().decode("utf-8")}
            user["id"] = d.u64()
            d.str()  # password hash
            user["quota"] = d.u64()
            user["usage"] = d.u64()
            user["messages"] = d.u64()
            user["next_uid"] = d.u32()
            out[fold_address(user["address"])] = user
        return out

    def messages(self, address):
        """[(uid, bytes)] of the user's messages: per-copy prefix + shared body."""
        env = self._open()
        try:
            with env.begin() as txn:
                users = self._users(env, txn)
                user = users.get(fold_address(address))
                if user is None:
                    raise KeyError(f"no user {address}")
                mailboxes = env.open_db(MAILBOX_TABLE, txn=txn, create=False)
                blobs = env.open_db(BLOB_TABLE, txn=txn, create=False)
                prefix = struct.pack(">Q", user["id"])
                out = []
                cursor = txn.cursor(db=mailboxes)
                if cursor.set_range(prefix):
                    for key, raw in cursor:
                        if not key.startswith(prefix):
                            break
                        uid = struct.unpack(">I", key[8:12])[0]
                        d = Decoder(raw)
                        if d.u8() != 1:
                            raise ValueError("unknown message record version")
                        blob_id = d.u64()
                        size = d.u64()
                        d.i64()  # arrival
                        head = d.str()
                        body = txn.get(struct.pack(">Q", blob_id), db=blobs)
                        if body is None:
                            raise AssertionError(f"message {uid} of {address}: blob {blob_id} missing")
                        whole = head + bytes(body)
                        if len(whole) != size:
                            raise AssertionError(f"message {uid} of {address}: size {size} != {len(whole)}")
                        out.append((uid, whole))
                return out
        finally:
            env.close()

    def all_message_counts(self):
        return {a: u["messages"] for a, u in self.users().items()}


def split_trace(stored):
    """Splits a stored message into its added header fields and the rest.

    Returns (fields, rest) where fields is a list of (name, unfolded value)
    of the leading Return-Path, Delivered-To and Received fields."""
    fields = []
    pos = 0
    wanted = ("return-path", "delivered-to", "received")
    while len(fields) < 3:
        end = stored.find(b"\r\n", pos)
        if end < 0:
            break
        # continuation lines (RFC 5322 folding)
        while stored[end + 2:end + 3] in (b" ", b"\t"):
            nxt = stored.find(b"\r\n", end + 2)
            if nxt < 0:
                break
            end = nxt
        raw = stored[pos:end].decode("utf-8", "replace")
        name, _, value = raw.partition(":")
        if name.lower() != wanted[len(fields)]:
            break
        fields.append((name, re.sub(r"\r\n[ \t]", " ", value).strip()))
        pos = end + 2
    return fields, stored[pos:]


# ---------------------------------------------------------------------------
# The daemon.

class Daemon:
    """A temporary Aviary setup and one aviary-smtpd process."""

    def __init__(self, tls=True, smtpd=None, name="smtpd", map_size="256MiB"):
        self.dir = Path(tempfile.mkdtemp(prefix=f"aviary-{name}-"))
        self.port = free_port()
        self.metrics_port = free_port()
        self.pop3_port = free_port()
        self.options = dict(DEFAULT_SMTPD)
        self.options.update(smtpd or {})
        self.tls = tls
        self.map_size = map_size
        self.store_path = self.dir / "store"
        self.config = self.dir / "aviary.toml"
        self.log_path = self.dir / "smtpd.log"
        self.proc = None
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_certificate(self.dir)
        self.write_config()
        self.store = StoreReader(self.store_path)

    def write_config(self):
        lines = [f'hostname = "{HOSTNAME}"', "", "[storage]",
                 f"path = {toml_value(self.store_path)}", f"map_size = {toml_value(self.map_size)}", ""]
        if self.tls:
            lines += ["[tls]", f"certificate = {toml_value(self.cert)}",
                      f"private_key = {toml_value(self.key)}", ""]
        lines += ["[smtpd]", f'listen = ["127.0.0.1:{self.port}"]',
                  f'metrics = "127.0.0.1:{self.metrics_port}"',
                  "submission = []", "submissions = []"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.options.items()]
        lines += ["", "[pop3d]", f'listen = ["127.0.0.1:{self.pop3_port}"]',
                  "tls_listen = []", 'metrics = ""', ""]
        lines += relay_section()
        lines += ["[password]", 'memory = "1MiB"', "iterations = 1", ""]
        self.config.write_text("\n".join(lines))

    # -- aviaryctl ------------------------------------------------------------

    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([program("aviaryctl"), "-c", str(self.config), *args],
                           input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"aviaryctl {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def add_domain(self, domain):
        self.ctl("domain", "add", domain)

    def add_user(self, address, quota=None, password="pw"):
        args = ["user", "add", address, "--password-stdin"]
        if quota:
            args += ["--quota", quota]
        self.ctl(*args, input=password + "\n")

    def add_alias(self, source, *targets):
        self.ctl("alias", "add", source, *targets)

    def stat(self, address):
        """{"messages": N, "bytes": B, ...} from aviaryctl --json mailbox stat."""
        return json.loads(self.ctl("--json", "mailbox", "stat", address).stdout)

    def count(self, address):
        return len(self.store.messages(address))

    def messages(self, address):
        return [m for _uid, m in self.store.messages(address)]

    # -- the process ----------------------------------------------------------

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([program("aviary-smtpd"), "-c", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=30.0):
        """Until the SMTP port greets (probing from 127.0.0.254, so that the
        probe never counts against 127.0.0.1's per-IP limit)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"aviary-smtpd exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                with SmtpClient(self.port, timeout=5, source="127.0.0.254") as c:
                    if c.greeting.code == 220:
                        c.send("QUIT\r\n")
                        try:
                            c.reply(timeout=5)
                        except (ConnectionClosed, OSError):
                            pass
                        # The greeting must have come from our daemon, not
                        # from another test's that holds the port.
                        time.sleep(0.05)
                        if self.proc.poll() is not None:
                            raise AssertionError(f"aviary-smtpd exited with {self.proc.returncode} at start:\n"
                                                 f"{self.log_tail()}")
                        return
                    last = c.greeting
            except (OSError, ConnectionClosed) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"aviary-smtpd not ready within {timeout}s ({last!r}):\n{self.log_tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """The exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
            if rc is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return "killed after SIGTERM timeout"
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def cleanup(self):
        self.kill()
        if os.environ.get("AVIARY_KEEP_TMP"):
            print(f"kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- conveniences ---------------------------------------------------------

    def client(self, **kw):
        return SmtpClient(self.port, **kw)

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode("utf-8")

    def tls_context(self):
        return client_tls_context(self.cert)


def standard_population(d):
    """Domains, users and aliases most tests use."""
    d.add_domain("example.test")
    d.add_domain("example.org")
    d.add_domain("catchall.test")
    d.add_user("alice@example.test")
    d.add_user("bob@example.test")
    d.add_user("carol@example.org")
    d.add_user("δοκιμή@example.test")
    d.add_alias("team@example.test", "alice@example.test", "bob@example.test")
    d.add_alias("@catchall.test", "carol@example.org")


class DaemonTestCase(unittest.TestCase):
    """One daemon per test class; populate() sets up the store before start."""

    smtpd_options = {}
    tls = True
    map_size = "256MiB"
    daemon = None

    @classmethod
    def populate(cls, d):
        standard_population(d)

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(tls=cls.tls, smtpd=cls.smtpd_options, name=cls.__name__, map_size=cls.map_size)
        client_tls_context.cafile = cls.daemon.cert
        try:
            cls.populate(cls.daemon)
            cls.daemon.start()
        except BaseException:
            print(cls.daemon.log_tail())
            cls.daemon.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        d = cls.daemon
        try:
            alive = d.alive()
            rc = d.stop(timeout=30)
            if alive and rc != 0:
                raise AssertionError(f"aviary-smtpd exited {rc} on SIGTERM:\n{d.log_tail()}")
        finally:
            d.cleanup()

    def tearDown(self):
        if not self.daemon.alive():
            self.fail(f"aviary-smtpd died (exit {self.daemon.proc.returncode}):\n{self.daemon.log_tail()}")

    def client(self, **kw):
        c = self.daemon.client(**kw)
        self.addCleanup(c.close)
        return c

    def assertReply(self, reply, code, enhanced=None, fragment=None, what=""):
        try:
            expect(reply, code, enhanced, fragment, what)
        except AssertionError as e:
            raise self.failureException(str(e)) from None

    def assertClosed(self, c, timeout=10.0):
        self.assertTrue(c.wait_closed(timeout), "the server did not close the connection")

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out after {timeout}s waiting for {what}")
