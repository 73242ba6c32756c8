"""pop3_harness.py - run the real aviary-pop3d (and aviary-smtpd) on loopback.

The pieces every test of this folder (and tests/interop/pop3/) shares:
  Mailhost      a temporary setup: certificate, aviary.toml with [smtpd] and
                [pop3d] sections on free loopback ports, the LMDB store made
                with aviaryctl, and the two daemons as child processes;
  Pop3Client    a byte-exact POP3 client over one socket (plain, STLS or
                implicit TLS) that checks the framing of every response;
  StoreCheck    reads the store directly (python3-lmdb, read-only) to check
                what a QUIT did: messages, quota usage, blob reference counts;
  Pop3TestCase  a unittest base class: one Mailhost per class, fresh users
                and a fresh client address (127.0.1.x) per test, alive-checks.

Mail goes in through aviary-smtpd's port-25-style listener, using the SMTP
client and store reader of ../smtpd/harness.py (imported, not copied).
Every wait is bounded; everything listens on and connects to loopback only.
"""

import base64
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "smtpd"))

from harness import (  # noqa: E402  (../smtpd/harness.py)
    ConnectionClosed, SmtpClient, StoreReader, dot_stuff, expect, free_port, program, rss_anon_kib,
    split_trace, toml_value)

# Re-exported for the test files: ConnectionClosed, SmtpClient, expect, split_trace.
RE_EXPORTED = (ConnectionClosed, SmtpClient, expect, split_trace)

HOSTNAME = "mail.example.test"
DOMAINS = ("example.test", "example.org")


def make_certificate(directory):
    """A self-signed EC certificate valid for HOSTNAME, localhost and
    127.0.0.1, so that every client can verify it; returns (cert, key)."""
    cert = Path(directory) / "cert.pem"
    key = Path(directory) / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={HOSTNAME}",
         "-addext", f"subjectAltName=DNS:{HOSTNAME},DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return cert, key


def tls_context(cafile):
    """A client context that verifies the daemon's certificate."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    return ctx


DEFAULT_POP3D = {
    "allow_plaintext_auth": False,
    "idle_timeout": "10m",
    "max_errors": 10,
    "auth_failure_delay": "1s",
    "max_connections": 1000,
    "max_connections_per_ip": 50,
    "io_threads": 2,
    "shutdown_timeout": "5s",
}

DEFAULT_SMTPD = {
    "max_message_size": "1MiB",
    "max_recipients": 100,
}


# ---------------------------------------------------------------------------
# Processes.

def _die_with_parent():
    """In the child before exec: SIGKILL when the test process goes away,
    so that a killed test run (ctest timeout) leaves no daemons behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort
        pass


class Proc:
    """One daemon process with its log file."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        self.proc = None

    def start(self):
        assert not self.alive(), f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_die_with_parent)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """The exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL after timeout; the exit code or a string."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
            if rc is None:
                self.kill()
                return "killed after SIGTERM timeout"
        return self.proc.returncode

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return f"--- {self.name} log ---\n" + "\n".join(self.log().splitlines()[-n:])

    def rss_anon_kib(self):
        """RssAnon of the process in KiB (anonymous memory, not the LMDB map)."""
        return rss_anon_kib(self.pid)


# ---------------------------------------------------------------------------
# POP3 responses and the client.

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


class Pop3Client:
    """A POP3 client that sends exactly the bytes a test asks for.

    tls=True connects with implicit TLS (POP3S). Every response line must end
    in CRLF; multi-line responses are checked for dot-stuffing."""

    def __init__(self, port, host="127.0.0.1", tls=False, context=None, timeout=15.0,
                 source=None, greeting=True, server_hostname=HOSTNAME):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = bytearray()
        self.tls = False
        try:
            if tls:
                self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
                self.tls = True
            self.greeting = self.response() if greeting else None
        except BaseException:
            self.close()
            raise

    # -- raw I/O --------------------------------------------------------------

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(max(0.01, timeout))
        try:
            chunk = self.sock.recv(1 << 18)
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            raise ConnectionClosed("the server closed the connection")
        self.buf += chunk

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

    def pending(self):
        return bytes(self.buf)

    def wait_closed(self, timeout=10.0):
        """True if the server closes within timeout (unread data is kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return True
            except OSError:
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

    def abort(self):
        """Drops the connection with a TCP RST (no QUIT, no FIN handshake)."""
        try:
            raw = self.sock
            if isinstance(raw, ssl.SSLSocket):
                raw = socket.socket(fileno=raw.detach())
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        except OSError:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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

    def handshake(self, context, server_hostname=HOSTNAME):
        if self.buf:
            raise Pop3Error(f"plaintext bytes after +OK to STLS: {bytes(self.buf)!r}")
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True

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

    def list(self):
        """{n: size} from LIST."""
        r, lines = self.cmd_multi("LIST")
        if not r.ok:
            raise Pop3Error(f"LIST: {r!r}")
        out = {}
        for line in lines:
            m = re.fullmatch(rb"(\d+) (\d+)\r\n", line)
            if not m:
                raise Pop3Error(f"LIST line {line!r}")
            out[int(m.group(1))] = int(m.group(2))
        return out

    def uidl(self):
        """{n: uid} from UIDL."""
        r, lines = self.cmd_multi("UIDL")
        if not r.ok:
            raise Pop3Error(f"UIDL: {r!r}")
        out = {}
        for line in lines:
            m = re.fullmatch(rb"(\d+) ([\x21-\x7e]{1,70})\r\n", line)
            if not m:
                raise Pop3Error(f"UIDL line {line!r}")
            out[int(m.group(1))] = m.group(2).decode()
        return out

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


def plain_token(user, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode("utf-8")).decode("ascii")


def unstuffed_equal_raw(data):
    """What a RETR of `data` must look like on the wire after the status line."""
    return dot_stuff(data) + b".\r\n"


# ---------------------------------------------------------------------------
# The store, read directly.

class StoreCheck(StoreReader):
    """StoreReader plus the blob reference counts (storage/blob.cpp)."""

    def blobs(self):
        """{blob id: (refs, size)} from blob_meta, and the set of blob_data ids."""
        env = self._open()
        try:
            with env.begin() as txn:
                meta = env.open_db(b"blob_meta", txn=txn, create=False)
                data = env.open_db(b"blob_data", txn=txn, create=False)
                out = {}
                for key, raw in txn.cursor(db=meta):
                    if raw[0] != 1:
                        raise ValueError("unknown blob record version")
                    refs, size = struct.unpack(">IQ", bytes(raw[1:13]))
                    out[struct.unpack(">Q", key)[0]] = (refs, size)
                data_ids = {struct.unpack(">Q", k)[0] for k, _ in txn.cursor(db=data)}
                return out, data_ids
        finally:
            env.close()

    def mailbox_refs(self):
        """{blob id: number of mailbox records that reference it}."""
        env = self._open()
        try:
            with env.begin() as txn:
                db = env.open_db(b"mailboxes", txn=txn, create=False)
                refs = {}
                for _key, raw in txn.cursor(db=db):
                    blob = struct.unpack(">Q", bytes(raw[1:9]))[0]
                    refs[blob] = refs.get(blob, 0) + 1
                return refs
        finally:
            env.close()

    def queue_length(self):
        env = self._open()
        try:
            with env.begin() as txn:
                db = env.open_db(b"queue", txn=txn, create=False)
                return txn.stat(db)["entries"]
        finally:
            env.close()

    def consistency_problems(self):
        """A list of what is inconsistent (empty if all is well): user
        message counts and usage against their messages, blob reference
        counts against the mailbox records (with an empty queue)."""
        problems = []
        for address, user in self.users().items():
            msgs = self.messages(address)  # also checks blob presence and sizes
            if user["messages"] != len(msgs):
                problems.append(f"{address}: record says {user['messages']} messages, has {len(msgs)}")
            usage = sum(len(m) for _uid, m in msgs)
            if user["usage"] != usage:
                problems.append(f"{address}: record says usage {user['usage']}, messages total {usage}")
            uids = [uid for uid, _m in msgs]
            if uids and max(uids) >= user["next_uid"]:
                problems.append(f"{address}: uid {max(uids)} >= next_uid {user['next_uid']}")
        if self.queue_length() == 0:
            meta, data_ids = self.blobs()
            refs = self.mailbox_refs()
            for blob, (count, _size) in meta.items():
                if count != refs.get(blob, 0):
                    problems.append(f"blob {blob}: refcount {count}, referenced {refs.get(blob, 0)} times")
            for blob in refs:
                if blob not in meta:
                    problems.append(f"blob {blob}: referenced but has no blob_meta")
            if set(meta) != data_ids:
                problems.append(f"blob_meta ids {sorted(meta)} != blob_data ids {sorted(data_ids)}")
        return problems


# ---------------------------------------------------------------------------
# The setup.

class Mailhost:
    """A temporary Aviary setup: config, store, aviary-smtpd, aviary-pop3d."""

    def __init__(self, pop3d=None, smtpd=None, tls=True, name="pop3d", map_size="256MiB",
                 plain=True, pop3s=True, metrics=True):
        self.dir = Path(tempfile.mkdtemp(prefix=f"pop3test-{name}-"))
        self.tls = tls
        self.smtp_port = free_port()
        self.pop3_port = free_port() if plain else None
        self.pop3s_port = free_port() if (pop3s and tls) else None
        self.metrics_port = free_port() if metrics else None
        self.pop3d_options = dict(DEFAULT_POP3D)
        self.pop3d_options.update(pop3d or {})
        self.smtpd_options = dict(DEFAULT_SMTPD)
        self.smtpd_options.update(smtpd or {})
        self.map_size = map_size
        self.store_path = self.dir / "store"
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_certificate(self.dir)
        self.config = self.dir / "aviary.toml"
        self.write_config(self.config)
        self.store = StoreCheck(self.store_path)
        self.smtpd = Proc("aviary-smtpd", [program("aviary-smtpd"), "-c", str(self.config)],
                          self.dir / "smtpd.log")
        self.pop3d = Proc("aviary-pop3d", [program("aviary-pop3d"), "-c", str(self.config)],
                          self.dir / "pop3d.log")
        self.passwords = {}
        self._extra = []

    def config_text(self, pop3_port=None, pop3s_port=None, metrics_port=None, smtp_port=None):
        pop3_port = self.pop3_port if pop3_port is None else pop3_port
        pop3s_port = self.pop3s_port if pop3s_port is None else pop3s_port
        metrics_port = self.metrics_port if metrics_port is None else metrics_port
        smtp_port = self.smtp_port if smtp_port is None else smtp_port
        lines = [f"hostname = {toml_value(HOSTNAME)}", "", "[storage]",
                 f"path = {toml_value(self.store_path)}", f"map_size = {toml_value(self.map_size)}", ""]
        if self.tls:
            lines += ["[tls]", f"certificate = {toml_value(self.cert)}",
                      f"private_key = {toml_value(self.key)}", ""]
        lines += ["[smtpd]", f'listen = ["127.0.0.1:{smtp_port}"]', 'metrics = ""',
                  "submission = []", "submissions = []"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.smtpd_options.items()]
        lines += ["", "[pop3d]",
                  f"listen = {toml_value([f'127.0.0.1:{pop3_port}'] if pop3_port else [])}",
                  f"tls_listen = {toml_value([f'127.0.0.1:{pop3s_port}'] if pop3s_port else [])}",
                  f"metrics = {toml_value(f'127.0.0.1:{metrics_port}' if metrics_port else '')}"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.pop3d_options.items()]
        lines += ["", "[password]", 'memory = "1MiB"', "iterations = 1", ""]
        return "\n".join(lines)

    def write_config(self, path, **ports):
        Path(path).write_text(self.config_text(**ports))

    # -- aviaryctl ------------------------------------------------------------

    def ctl(self, *args, input=None, check=True, config=None):
        r = subprocess.run([program("aviaryctl"), "-c", str(config or self.config), *args],
                           input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"aviaryctl {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def add_domain(self, domain):
        self.ctl("domain", "add", domain)

    def add_user(self, address, password=None, config=None):
        password = password or f"pw-{address.split('@')[0]}-S3cret"
        self.ctl("user", "add", address, "--password-stdin", input=password + "\n", config=config)
        self.passwords[address] = password
        return address, password

    def add_alias(self, source, *targets):
        self.ctl("alias", "add", source, *targets)

    def mailbox_stat(self, address):
        return json.loads(self.ctl("--json", "mailbox", "stat", address).stdout)

    def stored(self, address):
        """The stored messages of address, in UID order, as bytes."""
        return [m for _uid, m in self.store.messages(address)]

    # -- the processes --------------------------------------------------------

    def start(self):
        self.smtpd.start()
        self.pop3d.start()
        self.wait_smtpd()
        self.wait_pop3d()

    def wait_smtpd(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.smtpd.alive():
                raise AssertionError(f"aviary-smtpd exited with {self.smtpd.proc.returncode}:\n"
                                     f"{self.smtpd.log_tail()}")
            try:
                with SmtpClient(self.smtp_port, timeout=5, source="127.0.0.254") as c:
                    if c.greeting.code == 220:
                        c.send("QUIT\r\n")
                        return
            except (OSError, ConnectionClosed) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"aviary-smtpd not ready within {timeout}s ({last!r})\n{self.smtpd.log_tail()}")

    def wait_pop3d(self, proc=None, port=None, tls=False, timeout=30.0):
        """Until the daemon greets +OK (probing from 127.0.0.254, so that the
        probe never counts against the test addresses' limits)."""
        proc = proc or self.pop3d
        if port is None:
            port, tls = (self.pop3_port, False) if self.pop3_port else (self.pop3s_port, True)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited with {proc.proc.returncode} at start:\n"
                                     f"{proc.log_tail()}")
            try:
                with Pop3Client(port, tls=tls, context=self.context() if tls else None, timeout=5,
                                source="127.0.0.254") as c:
                    if c.greeting.ok:
                        c.send("QUIT\r\n")
                        try:
                            c.response(timeout=5)
                        except (OSError, ConnectionClosed):
                            pass
                        return
                    last = c.greeting
            except (OSError, ConnectionClosed, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"{proc.name} not ready within {timeout}s ({last!r}):\n{proc.log_tail()}")

    def restart_pop3d(self):
        self.pop3d.start()
        self.wait_pop3d()

    def second_pop3d(self):
        """Another aviary-pop3d process on the same store, its own ports.

        Returns (proc, plain_port)."""
        port = free_port()
        config = self.dir / f"aviary-{len(self._extra) + 2}.toml"
        self.write_config(config, pop3_port=port, pop3s_port=0, metrics_port=0, smtp_port=free_port())
        proc = Proc(f"aviary-pop3d #{len(self._extra) + 2}", [program("aviary-pop3d"), "-c", str(config)],
                    self.dir / f"pop3d-{len(self._extra) + 2}.log")
        self._extra.append(proc)
        proc.start()
        self.wait_pop3d(proc, port, False)
        return proc, port

    def cleanup(self):
        for p in [self.pop3d, self.smtpd, *self._extra]:
            p.kill()
        if os.environ.get("AVIARY_KEEP_TMP"):
            print(f"kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- conveniences ---------------------------------------------------------

    def context(self):
        return tls_context(self.cert)

    def pop3(self, **kw):
        """A client on the plain listener."""
        return Pop3Client(self.pop3_port, **kw)

    def pop3s(self, **kw):
        """A client on the implicit-TLS listener."""
        kw.setdefault("context", self.context())
        return Pop3Client(self.pop3s_port, tls=True, **kw)

    def deliver(self, recipients, data, sender="sender@remote.test"):
        """One message through aviary-smtpd; asserts the 250."""
        if isinstance(recipients, str):
            recipients = [recipients]
        with SmtpClient(self.smtp_port, timeout=60, source="127.0.0.254") as c:
            expect(c.ehlo(), "250")
            expect(c.transaction(sender, recipients, data), "250", what="delivery through aviary-smtpd")
            c.send("QUIT\r\n")

    def deliver_many(self, recipient, datas, connections=8):
        """Many messages to one recipient over parallel SMTP connections, in
        order within each connection; returns when all are 250'd."""
        datas = list(datas)
        errors = []

        def worker(part):
            try:
                with SmtpClient(self.smtp_port, timeout=120, source="127.0.0.254") as c:
                    expect(c.ehlo(), "250")
                    for data in part:
                        expect(c.transaction("sender@remote.test", [recipient], data), "250")
                    c.send("QUIT\r\n")
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(datas[i::connections],))
                   for i in range(min(connections, len(datas)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        if errors:
            raise errors[0]
        if any(t.is_alive() for t in threads):
            raise AssertionError("deliveries did not finish within 300s")

    def metrics_text(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode("utf-8")

    def logs(self):
        return "\n".join(p.log_tail() for p in [self.pop3d, self.smtpd, *self._extra])


def message(subject, body="Hello.\r\n", sender="sender@remote.test", to="rcpt@example.test"):
    """A small RFC 5322 message as bytes, CRLF line ends."""
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{re.sub(r'[^A-Za-z0-9.-]', '.', subject)}@remote.test>\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head.encode("utf-8") + b"\r\n" + body


TRICKY_BODY = (
    "First line.\r\n"
    ".\r\n"
    "..\r\n"
    ".leading dot\r\n"
    "..two leading dots\r\n"
    "trailing dot.\r\n"
    "\r\n"
    " \r\n"
    "tab\tseparated\r\n"
    "UTF-8: Grüße, δοκιμή, 日本語\r\n"
    + "x" * 900 + "\r\n"
    "From the middle of a line\r\n"
    "From here at the start of a line\r\n"
    ". \r\n"
    "last line\r\n"
    "\r\n")


# ---------------------------------------------------------------------------
# The test base class.

_ip_counter = itertools.count(1)


def next_client_ip():
    """A fresh loopback address per test (127.0.1.1, 127.0.1.2, ...), so
    that per-IP limits and failure counts never leak between tests."""
    n = next(_ip_counter)
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


class Pop3TestCase(unittest.TestCase):
    """One Mailhost per class, both daemons running; populate() before start."""

    pop3d_options = {}
    smtpd_options = {}
    tls = True
    plain = True
    pop3s = True
    metrics = True
    map_size = "256MiB"
    host = None
    _user_counter = None

    @classmethod
    def populate(cls, h):
        """Before the daemons start."""
        for d in DOMAINS:
            h.add_domain(d)

    @classmethod
    def prepare(cls, h):
        """After the daemons started (e.g. deliveries shared by the class)."""

    @classmethod
    def setUpClass(cls):
        cls.host = Mailhost(pop3d=cls.pop3d_options, smtpd=cls.smtpd_options, tls=cls.tls,
                            name=cls.__name__, map_size=cls.map_size, plain=cls.plain, pop3s=cls.pop3s,
                            metrics=cls.metrics)
        cls._user_counter = itertools.count(1)
        try:
            cls.populate(cls.host)
            cls.host.start()
            cls.prepare(cls.host)
        except BaseException:
            print(cls.host.logs())
            cls.host.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        h = cls.host
        try:
            alive = h.pop3d.alive()
            rc = h.pop3d.stop(timeout=30)
            h.smtpd.stop(timeout=30)
            if alive and rc != 0:
                raise AssertionError(f"aviary-pop3d exited {rc} on SIGTERM:\n{h.pop3d.log_tail()}")
        finally:
            h.cleanup()

    def setUp(self):
        self.ip = next_client_ip()
        if not self.host.pop3d.alive():
            # an earlier test of the class failed and left it dead (or
            # stopped it): start it again so that this test stands alone
            self.host.restart_pop3d()

    def tearDown(self):
        self.assertDaemonAlive()

    def assertDaemonAlive(self, settle=0.0):
        """Fails if aviary-pop3d has exited (after `settle` seconds, so
        that a crash that just closed our connection is seen)."""
        if settle:
            time.sleep(settle)
        if not self.host.pop3d.alive():
            self.fail(f"aviary-pop3d died (exit {self.host.pop3d.proc.returncode}):\n"
                      f"{self.host.pop3d.log_tail()}")

    # -- helpers --------------------------------------------------------------

    def new_user(self, domain="example.test", password=None):
        """A fresh user for this test: (address, password)."""
        n = next(self._user_counter)
        name = re.sub(r"[^a-z0-9]", "", self._testMethodName.lower())[-20:]
        return self.host.add_user(f"{name}{n}@{domain}", password)

    def pop3(self, **kw):
        kw.setdefault("source", self.ip)
        c = self.host.pop3(**kw)
        self.addCleanup(c.close)
        return c

    def pop3s(self, **kw):
        kw.setdefault("source", self.ip)
        c = self.host.pop3s(**kw)
        self.addCleanup(c.close)
        return c

    def session(self, user, password):
        """A logged-in session: over TLS (STLS, or POP3S without a plain
        listener), or plain if allow_plaintext_auth is set."""
        if self.host.pop3_port:
            c = self.pop3()
            if self.tls and not self.host.pop3d_options.get("allow_plaintext_auth"):
                c.stls(self.host.context())
        else:
            c = self.pop3s()
        c.login(user, password)
        return c

    def mailbox_with(self, count, subject="msg", body=None):
        """A new user with `count` messages delivered; (user, password, datas)."""
        user, password = self.new_user()
        datas = [message(f"{subject} {i + 1}", body=body or f"Body of message {i + 1}.\r\n")
                 for i in range(count)]
        for d in datas:
            self.host.deliver(user, d)
        return user, password, datas

    def assertOk(self, r, what=""):
        if not r.ok:
            self.fail(f"{what + ': ' if what else ''}expected +OK, got {r!r}")
        return r

    def assertErr(self, r, code=None, what=""):
        if r.ok:
            self.fail(f"{what + ': ' if what else ''}expected -ERR, got {r!r}")
        if code is not None and r.code != code:
            self.fail(f"{what + ': ' if what else ''}expected -ERR [{code}], got {r!r}")
        return r

    def assertClosed(self, c, timeout=10.0, what="the server did not close the connection"):
        """The server closes c within timeout - and is still running."""
        self.assertTrue(c.wait_closed(timeout), what)
        self.assertDaemonAlive(settle=0.2)

    def assertConsistent(self):
        problems = self.host.store.consistency_problems()
        self.assertEqual(problems, [], "store inconsistent")

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out after {timeout}s waiting for {what}")
