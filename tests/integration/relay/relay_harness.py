"""relay_harness.py - two Aviary hosts, a private DNS server and scripted SMTP
peers on loopback, for the outbound queue runner's end-to-end tests.

The pieces the relay tests (and tests/interop/relay) share:
  Net             a random 127.X.Y.0/24 of loopback addresses for one test,
                  and the one SMTP port every MX host of that test listens on
                  (25 when run as root and free, else a random port; the
                  senders reach it through relay.smtp_port);
  Dnsmasq         a private dnsmasq on 127.0.0.1:<free port> serving the MX,
                  A and raw (null MX) records of the test's domains; the
                  Aviary hosts ask it through relay.dns = "127.0.0.1:PORT";
  Host            one Aviary setup (own config, certificate, LMDB store)
                  hosting one domain, with aviary-smtpd (port 25 style
                  listener and submission) and, on demand, aviary-pop3d, all
                  on the host's own loopback address;
  ScriptedSmtp    a small threaded SMTP server whose replies per recipient
                  and per message are scripted by the test, and which
                  records every transaction it sees;
  parse_report    an RFC 3464 delivery status notification, taken apart with
                  Python's email package;
  RelayTestCase   a unittest base class that builds these per test, stops
                  them in cleanups (even on failure) and adds every log to a
                  failure message.

Only the standard library, python3-lmdb (through ../smtpd/harness.py),
openssl and dnsmasq are used. Every wait is bounded; everything listens on
and connects to loopback only.
"""

import email
import email.policy
import json
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "smtpd"))

import harness  # noqa: E402  (../smtpd/harness.py)
from harness import (  # noqa: E402,F401
    ConnectionClosed, SmtpClient, StoreReader, dot_stuff, expect, program, split_trace, toml_value)

DNSMASQ = "/usr/sbin/dnsmasq"
WAIT = 20.0  # seconds any single expected event may take
IS_ROOT = os.geteuid() == 0


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process goes away, so
    that a killed test run (ctest timeout) leaves no daemons behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # best effort
        pass


# ---------------------------------------------------------------------------
# Addresses and ports.

def can_bind(address, port, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


_handed_out = set()


def free_port(addresses=("127.0.0.1",), udp=False):
    """A port below the ephemeral range free on every address (TCP, and UDP
    too if asked), never the same one twice in this process: nothing is
    bound between the choice and the daemon's start."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(20000, 32000)
        if port in _handed_out:
            continue
        if all(can_bind(a, port) and (not udp or can_bind(a, port, socket.SOCK_DGRAM)) for a in addresses):
            _handed_out.add(port)
            return port
    raise AssertionError(f"no free port on {addresses}")


class Net:
    """Loopback addresses 127.X.Y.1-254 of one test and its MX port.

    .2 and .3 are the Aviary hosts by convention, .4 and .5 scripted servers,
    .6 an address where nothing listens."""

    def __init__(self):
        rng = random.SystemRandom()
        # 127.0.x.y is left to the other suites (client source addresses).
        self.prefix = f"127.{rng.randint(16, 250)}.{rng.randint(1, 254)}"
        everyone = [self.ip(n) for n in range(2, 8)]
        if IS_ROOT and all(can_bind(a, 25) for a in everyone):
            self.smtp_port = 25
        else:
            self.smtp_port = free_port(everyone)

    def ip(self, n):
        return f"{self.prefix}.{n}"


# ---------------------------------------------------------------------------
# Processes.

class Proc:
    """One child process with its log file."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.proc = None

    def start(self):
        assert not self.alive(), f"{self.name} already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_die_with_parent)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL after timeout; the exit code or a string."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return "killed after SIGTERM timeout"
        return self.proc.returncode

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return f"--- {self.name} ({self.log_path}) ---\n" + "\n".join(self.log().splitlines()[-n:])


# ---------------------------------------------------------------------------
# DNS.

def dns_query(server, port, name, qtype, timeout=2.0):
    """(rcode, answer count) of one UDP query; raises on timeout."""
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, port))
        data, _ = s.recvfrom(4096)
    rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        raise AssertionError("DNS reply with another id")
    return flags & 0xF, an


class Dnsmasq:
    """A private dnsmasq answering only from its own records (--local=/test/:
    names it does not know are NXDOMAIN, types it does not have are NODATA)."""

    MX, A = 15, 1

    def __init__(self, directory, zones=("test",)):
        self.dir = Path(directory)
        self.port = free_port(udp=True)
        self.zones = zones
        self.records = []
        self.proc = None

    def mx(self, domain, host, preference):
        self.records.append(f"--mx-host={domain},{host},{preference}")

    def a(self, host, ip):
        self.records.append(f"--host-record={host},{ip}")

    def null_mx(self, domain):
        # RFC 7505: one MX with preference 0 and the root as exchange.
        # RDATA = 16-bit preference 0 + the root name (one zero octet).
        self.records.append(f"--dns-rr={domain},15,000000")

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        if not os.path.exists(DNSMASQ):
            raise AssertionError(f"{DNSMASQ} is not installed (Debian package dnsmasq-base)")
        argv = [DNSMASQ, "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--keep-in-foreground",
                "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={self.port}",
                "--pid-file=", "--log-facility=-", "--log-queries", "--cache-size=0"]
        argv += [f"--local=/{z}/" for z in self.zones]
        if IS_ROOT:
            argv += ["--user=root", "--group=root"]  # no privilege drop to a user that may not exist
        argv += self.records
        self.proc = Proc("dnsmasq", argv, self.dir / "dnsmasq.log")
        self.proc.start()
        deadline = time.monotonic() + WAIT
        last = None
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise AssertionError(f"dnsmasq exited {self.proc.proc.returncode}:\n{self.proc.log_tail()}")
            try:
                dns_query("127.0.0.1", self.port, "readiness.probe.test", self.A, timeout=0.5)
                return
            except (OSError, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"dnsmasq not answering within {WAIT}s ({last!r}):\n{self.proc.log_tail()}")

    def stop(self):
        if self.proc:
            self.proc.stop(5)


# ---------------------------------------------------------------------------
# An Aviary host.

def make_certificate(directory, hostname, ip):
    """Self-signed EC certificate for hostname and ip; (cert, key) paths."""
    cert = Path(directory) / "cert.pem"
    key = Path(directory) / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname},IP:{ip}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return cert, key


class Host:
    """One Aviary setup hosting `domain` on loopback address `ip`.

    aviary-smtpd listens on ip:smtp_port (port 25 semantics) and on a
    submission port (STARTTLS, AUTH); aviary-pop3d (started on demand) on a
    POP3 port with STLS. relay.* comes from `relay` (a dict of TOML values;
    "routes" a dict)."""

    def __init__(self, base_dir, name, domain, ip, smtp_port, relay=None, smtpd=None):
        self.name = name
        self.domain = domain
        self.hostname = f"mail.{domain}"
        self.ip = ip
        self.dir = Path(base_dir) / name
        self.dir.mkdir(parents=True)
        self.smtp_port = smtp_port
        self.submission_port = free_port([ip])
        self.pop3_port = free_port([ip])
        self.metrics_port = free_port([ip])
        self.relay = dict(relay or {})
        self.smtpd_options = {"max_message_size": "10MiB", "max_recipients": 100, "io_threads": 2,
                              "shutdown_timeout": "5s", "max_connections_per_ip": 500}
        self.smtpd_options.update(smtpd or {})
        self.store_path = self.dir / "store"
        self.config = self.dir / "aviary.toml"
        self.cert, self.key = make_certificate(self.dir, self.hostname, ip)
        self.passwords = {}
        self.smtpd = Proc(f"aviary-smtpd {name} ({self.hostname} {ip}:{smtp_port})",
                          [program("aviary-smtpd"), "-c", self.config], self.dir / "smtpd.log")
        self.pop3d = Proc(f"aviary-pop3d {name}", [program("aviary-pop3d"), "-c", self.config],
                          self.dir / "pop3d.log")
        self.store = StoreReader(self.store_path)
        self.write_config()
        self.ctl("domain", "add", domain)

    def write_config(self):
        lines = [f"hostname = {toml_value(self.hostname)}", "",
                 "[storage]", f"path = {toml_value(self.store_path)}", 'map_size = "256MiB"', "",
                 "[tls]", f"certificate = {toml_value(self.cert)}", f"private_key = {toml_value(self.key)}", "",
                 "[smtpd]", f"listen = {toml_value([f'{self.ip}:{self.smtp_port}'])}",
                 f"submission = {toml_value([f'{self.ip}:{self.submission_port}'])}",
                 "submissions = []", f"metrics = {toml_value(f'{self.ip}:{self.metrics_port}')}"]
        lines += [f"{k} = {toml_value(v)}" for k, v in self.smtpd_options.items()]
        lines += ["", "[pop3d]", f"listen = {toml_value([f'{self.ip}:{self.pop3_port}'])}",
                  "tls_listen = []", 'metrics = ""', "", "[relay]"]
        for k, v in self.relay.items():
            if k == "routes":
                inner = ", ".join(f"{json.dumps(d)} = {json.dumps(e)}" for d, e in v.items())
                lines.append(f"routes = {{ {inner} }}")
            else:
                lines.append(f"{k} = {toml_value(v)}")
        lines += ["", "[password]", 'memory = "1MiB"', "iterations = 1", ""]
        self.config.write_text("\n".join(lines))

    # -- aviaryctl ------------------------------------------------------------

    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([program("aviaryctl"), "-c", str(self.config), *args],
                           input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: aviaryctl {' '.join(args)} exited {r.returncode}: "
                                 f"{r.stderr.strip()}")
        return r

    def add_user(self, address, password=None):
        password = password or f"pw-{uuid.uuid4().hex[:10]}"
        self.ctl("user", "add", address, "--password-stdin", input=password + "\n")
        self.passwords[address] = password
        return password

    def add_alias(self, source, *targets):
        self.ctl("alias", "add", source, *targets)

    def count(self, address):
        """Messages in address's mailbox (aviaryctl --json mailbox stat)."""
        return json.loads(self.ctl("--json", "mailbox", "stat", address).stdout)["messages"]

    def messages(self, address):
        """The stored messages of address, UID order, as bytes (read from LMDB)."""
        return [m for _uid, m in self.store.messages(address)]

    def queue(self):
        """aviaryctl --json queue list, parsed."""
        return json.loads(self.ctl("--json", "queue", "list").stdout)

    def flush(self):
        return self.ctl("queue", "flush").stdout

    # -- processes ------------------------------------------------------------

    def start(self, pop3d=False):
        self.smtpd.start()
        self.wait_smtpd()
        if pop3d:
            self.pop3d.start()
            self.wait_pop3d()

    def wait_smtpd(self, timeout=30.0):
        """Until our daemon greets on the port 25 listener (probing from 127.0.0.254)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.smtpd.alive():
                raise AssertionError(f"aviary-smtpd exited with {self.smtpd.proc.returncode}:\n"
                                     f"{self.smtpd.log_tail()}")
            try:
                with SmtpClient(self.smtp_port, host=self.ip, timeout=5, source="127.0.0.254") as c:
                    if c.greeting.code == 220 and self.hostname in c.greeting.text:
                        c.send("QUIT\r\n")
                        return
                    last = c.greeting
            except (OSError, ConnectionClosed) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"aviary-smtpd not ready within {timeout}s ({last!r})\n{self.smtpd.log_tail()}")

    def wait_pop3d(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.pop3d.alive():
                raise AssertionError(f"aviary-pop3d exited with {self.pop3d.proc.returncode}:\n"
                                     f"{self.pop3d.log_tail()}")
            try:
                with socket.create_connection((self.ip, self.pop3_port), timeout=5,
                                              source_address=("127.0.0.254", 0)) as s:
                    if s.recv(512).startswith(b"+OK"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"aviary-pop3d not ready within {timeout}s ({last!r})\n{self.pop3d.log_tail()}")

    def stop(self):
        """Both daemons; returns aviary-smtpd's exit code (None if it never ran)."""
        self.pop3d.stop(20)
        return self.smtpd.stop(30)

    def logs(self, n=40):
        out = [self.smtpd.log_tail(n)]
        if self.pop3d.proc is not None:
            out.append(self.pop3d.log_tail(n))
        return "\n".join(out)

    def metrics(self):
        import urllib.request
        with urllib.request.urlopen(f"http://{self.ip}:{self.metrics_port}/metrics", timeout=10) as r:
            return r.read().decode("utf-8")

    # -- clients --------------------------------------------------------------

    def tls_context(self):
        return ssl.create_default_context(cafile=str(self.cert))

    def submit(self, user, recipients, data, password=None):
        """smtplib: STARTTLS (certificate verified), AUTH, MAIL/RCPT/DATA on
        the submission port. Returns the final reply text (the queue id is in it)."""
        password = password or self.passwords[user]
        with smtplib.SMTP(self.ip, self.submission_port, timeout=30, local_hostname="client.example.net") as s:
            s.starttls(context=self.tls_context())
            s.login(user, password)
            code, text = s.mail(user)
            if code != 250:
                raise AssertionError(f"MAIL FROM:<{user}> answered {code} {text!r}")
            for r in recipients:
                code, text = s.rcpt(r)
                if code not in (250, 251):
                    raise AssertionError(f"RCPT TO:<{r}> answered {code} {text!r}")
            code, text = s.data(data)
            if code != 250:
                raise AssertionError(f"end of DATA answered {code} {text!r}")
            return text.decode("utf-8", "replace")

    def inject(self, sender, recipients, data):
        """A plain port-25 session (as another MTA would open); final reply."""
        with SmtpClient(self.smtp_port, host=self.ip, timeout=30, source="127.0.0.253") as c:
            expect(c.ehlo("peer.example.net"), "250")
            r = c.transaction(sender, recipients, data)
            try:
                c.cmd("QUIT")
            except (OSError, ConnectionClosed):
                pass
            return r


def make_message(sender, to, subject, body="Hello from the relay tests.\r\n", extra_headers=b""):
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@client.example.net>\r\n"
            f"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n").encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return extra_headers + head + b"\r\n" + body


# ---------------------------------------------------------------------------
# A scripted SMTP server.

class LoopbackServer:
    """A threaded TCP server on ip:port for the relay to talk to: each
    connection gets a thread running self._serve(conn, peer); log() keeps
    lines for failure messages. Subclasses set their state before calling
    __init__, which starts accepting."""

    label = "server"

    def __init__(self, ip, port, backlog=32, rcvbuf=None):
        self.ip, self.port = ip, port
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.lines = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((ip, port))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def log(self, text):
        with self.lock:
            self.lines.append(f"{time.strftime('%H:%M:%S')} {text}")

    def log_tail(self, n=40):
        with self.lock:
            return f"--- {self.label} {self.ip}:{self.port} ---\n" + "\n".join(self.lines[-n:])

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, peer), daemon=True).start()

    def _serve(self, conn, peer):
        raise NotImplementedError


class ScriptedSmtp(LoopbackServer):
    """A threaded SMTP server on ip:port whose replies are scripted.

    rcpt_script: {address: [reply, ...]}: the n-th RCPT for that address
      gets the n-th reply, the last one repeats; a reply is (code, text).
      Unlisted addresses get 250.
    data_reply(tx) -> (code, text): the reply to the end of DATA (default 250).
    Every transaction (from MAIL on) is recorded as a dict: mail (the whole
    MAIL line), sender, rcpts [(address, code)], data (bytes, unstuffed, or
    None), reply (code to the end of DATA or None), pipelined (more commands
    were already in the buffer when MAIL was read), session, time (monotonic,
    when MAIL arrived)."""

    label = "scripted SMTP"

    def __init__(self, ip, port, name="mx.scripted.test", rcpt_script=None, data_reply=None,
                 extensions=("PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES")):
        self.ip, self.port, self.name = ip, port, name
        self.rcpt_script = {k.lower(): list(v) for k, v in (rcpt_script or {}).items()}
        self.rcpt_seen = {}
        self.data_reply = data_reply or (lambda tx: (250, "2.0.0 Ok: queued"))
        self.extensions = extensions
        sizes = [int(e.split()[1]) for e in extensions if e.upper().startswith("SIZE ") and e.split()[1] != "0"]
        self.size_limit = sizes[0] if sizes else None
        self.transactions = []
        self.sessions = 0
        super().__init__(ip, port)

    def _serve(self, conn, peer):
        with self.lock:
            self.sessions += 1
            n = self.sessions
        self._session(conn, peer, n)

    def _session(self, conn, peer, n):
        conn.settimeout(60)
        buf = bytearray()

        def send(line):
            self.log(f"[{n}] S: {line}")
            conn.sendall(line.encode("utf-8") + b"\r\n")

        def read_line():
            while b"\r\n" not in buf:
                if self.stopping.is_set():
                    raise ConnectionClosed("stopping")
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionClosed("peer closed")
                buf.extend(chunk)
            i = buf.index(b"\r\n")
            line = bytes(buf[:i])
            del buf[:i + 2]
            return line

        tx = None
        try:
            self.log(f"[{n}] connect from {peer[0]}")
            send(f"220 {self.name} ESMTP scripted")
            for _ in range(10000):
                line = read_line().decode("utf-8", "replace")
                self.log(f"[{n}] C: {line}")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    lines = [self.name, *self.extensions]
                    for i, text in enumerate(lines):
                        send(f"250{'-' if i + 1 < len(lines) else ' '}{text}")
                elif verb == "HELO":
                    send(f"250 {self.name}")
                elif verb == "MAIL":
                    m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", line)
                    size = re.search(r"(?i)\sSIZE=(\d+)", line)
                    if self.size_limit is not None and size and int(size.group(1)) > self.size_limit:
                        send("552 5.3.4 Message size exceeds fixed limit")  # RFC 1870 §6.1
                        continue
                    tx = {"mail": line, "sender": m.group(1) if m else None, "rcpts": [], "data": None,
                          "reply": None, "pipelined": len(buf) > 0, "session": n, "time": time.monotonic()}
                    with self.lock:
                        self.transactions.append(tx)
                    send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", line)
                    address = m.group(1) if m else ""
                    if tx is None:
                        send("503 5.5.1 MAIL first")
                        continue
                    with self.lock:
                        seen = self.rcpt_seen.get(address.lower(), 0)
                        self.rcpt_seen[address.lower()] = seen + 1
                        script = self.rcpt_script.get(address.lower())
                    code, text = script[min(seen, len(script) - 1)] if script else (250, "2.1.5 Ok")
                    tx["rcpts"].append((address, code))
                    send(f"{code} {text}")
                elif verb == "DATA":
                    if tx is None or not any(200 <= c < 300 for _a, c in tx["rcpts"]):
                        send("554 5.5.1 No valid recipients")
                        continue
                    send("354 End data with <CR><LF>.<CR><LF>")
                    data = bytearray()
                    for _ in range(10_000_000):
                        raw = read_line()
                        if raw == b".":
                            break
                        data += (raw[1:] if raw.startswith(b".") else raw) + b"\r\n"
                    tx["data"] = bytes(data)
                    if self.size_limit is not None and len(data) > self.size_limit:
                        code, text = 552, "5.3.4 Message size exceeds fixed limit"
                    else:
                        code, text = self.data_reply(tx)
                    tx["reply"] = code
                    send(f"{code} {text}")
                    tx = None
                elif verb == "RSET":
                    tx = None
                    send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    send("250 2.0.0 Ok")
                elif verb == "STARTTLS" and "STARTTLS" in self.extensions:
                    send("454 4.7.0 TLS not available due to temporary reason")  # RFC 3207 §4
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    return
                else:
                    send("502 5.5.2 Command not implemented")
        except (OSError, ConnectionClosed) as e:
            self.log(f"[{n}] closed: {e!r}")
        finally:
            conn.close()

    # -- what it saw ----------------------------------------------------------

    def snapshot(self):
        with self.lock:
            return [dict(tx, rcpts=list(tx["rcpts"])) for tx in self.transactions]

    def delivered_to(self, address):
        """Transactions whose data was accepted (2xx) with address accepted."""
        return [tx for tx in self.snapshot()
                if tx["reply"] is not None and 200 <= tx["reply"] < 300
                and any(a.lower() == address.lower() and 200 <= c < 300 for a, c in tx["rcpts"])]

    def rcpt_count(self, address):
        with self.lock:
            return self.rcpt_seen.get(address.lower(), 0)


# ---------------------------------------------------------------------------
# Delivery status notifications (RFC 3464, RFC 6522).

class Report:
    """A parsed bounce: message (email.message.Message), recipients (list of
    per-recipient field dicts, lowercase keys), per_message (dict), text
    (the human-readable part), original (bytes of the returned message or
    headers), original_type."""

    def __init__(self, raw):
        self.raw = raw
        self.message = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.recipients = []
        self.per_message = {}
        self.text = None
        self.original = None
        self.original_type = None
        self.status_parts = 0
        if not self.message.is_multipart():
            return
        for part in self.message.get_payload():
            ctype = part.get_content_type()
            if ctype == "message/delivery-status":
                self.status_parts += 1
                blocks = part.get_payload()
                if isinstance(blocks, str):  # not split by the parser: do it here
                    blocks = [email.message_from_string(b.strip() + "\n")
                              for b in re.split(r"\r?\n\r?\n", blocks) if b.strip()]
                for i, block in enumerate(blocks):
                    fields = {k.lower(): re.sub(r"\s+", " ", str(v)).strip() for k, v in block.items()}
                    if i == 0:
                        self.per_message = fields
                    else:
                        self.recipients.append(fields)
            elif ctype in ("message/rfc822", "text/rfc822-headers", "message/global",
                           "message/global-headers") and self.original is None:
                self.original_type = ctype
                payload = part.get_payload()
                if isinstance(payload, list):
                    self.original = payload[0].as_bytes()
                else:
                    self.original = part.get_payload(decode=True) or payload.encode("utf-8", "replace")
            elif ctype == "text/plain" and self.text is None:
                self.text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")

    @property
    def content_type(self):
        return self.message.get_content_type()

    @property
    def report_type(self):
        return self.message.get_param("report-type")

    def recipient(self, address):
        """The per-recipient block whose Final-Recipient names address, or None."""
        for r in self.recipients:
            final = r.get("final-recipient", "")
            if final.split(";", 1)[-1].strip().strip("<>").lower() == address.lower():
                return r
        return None


# ---------------------------------------------------------------------------
# The test base class.

class RelayTestCase(unittest.TestCase):
    """Builds a Net, a temporary directory and whatever a test asks for;
    everything is stopped in cleanups, also when the test fails."""

    def setUp(self):
        self.net = Net()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"aviary-relay-{self._testMethodName}-"))
        self.addCleanup(self._remove_tmp)
        self._parts = []  # things with log_tail() for failure messages
        self.dns = None

    def _remove_tmp(self):
        if os.environ.get("AVIARY_KEEP_TMP"):
            print(f"kept {self.tmp}")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- building blocks --------------------------------------------------------

    def start_dns(self, setup):
        """A dnsmasq with the records setup(dns) adds."""
        self.dns = Dnsmasq(self.tmp)
        setup(self.dns)
        self.addCleanup(self.dns.stop)
        self.dns.start()
        self._parts.append(self.dns.proc)
        return self.dns

    def host(self, name, domain, n, relay=None, start=True, pop3d=False, smtpd=None):
        """An Aviary host on .n of the test's net, its relay settings
        defaulting to this test's dnsmasq and MX port."""
        settings = {"smtp_port": self.net.smtp_port, "retry": ["1h"], "max_queue_time": "1d"}
        if self.dns is not None:
            settings["dns"] = self.dns.endpoint
        settings.update(relay or {})
        h = Host(self.tmp, name, domain, self.net.ip(n), self.net.smtp_port, relay=settings, smtpd=smtpd)
        self.addCleanup(self._stop_host, h)
        self._parts.append(h)
        if start:
            h.start(pop3d=pop3d)
        return h

    def _stop_host(self, h):
        alive = h.smtpd.alive()
        rc = h.stop()
        if alive and rc != 0:
            raise AssertionError(f"{h.smtpd.name} exited {rc} on SIGTERM:\n{h.smtpd.log_tail()}")
        if not alive and rc not in (0, None):
            raise AssertionError(f"{h.smtpd.name} died during the test (exit {rc}):\n{h.smtpd.log_tail()}")

    def scripted(self, n, **kw):
        s = ScriptedSmtp(self.net.ip(n), self.net.smtp_port, **kw)
        self.addCleanup(s.stop)
        self._parts.append(s)
        return s

    # -- waiting and asserting --------------------------------------------------

    def logs(self):
        out = []
        for p in self._parts:
            out.append(p.logs() if isinstance(p, Host) else p.log_tail())
        return "\n".join(out)

    def wait_for(self, predicate, what, timeout=WAIT, interval=0.1):
        """Polls predicate until it returns a true value (returned); fails with
        every log after timeout. `what` may be a callable (asked at the end)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        what = what() if callable(what) else what
        self.fail(f"timed out after {timeout}s waiting for {what} (last: {value!r})\n{self.logs()}")

    def wait_count(self, host, address, n, timeout=WAIT):
        self.wait_for(lambda: host.count(address) >= n, f"{n} message(s) in {address} at {host.name}", timeout)
        self.assertEqual(host.count(address), n, f"{address} at {host.name}: more than {n} message(s)")

    def wait_queue_empty(self, host, timeout=WAIT):
        self.wait_for(lambda: host.queue() == [], f"an empty queue at {host.name}", timeout)

    def assertAsked(self, name, qtype):
        """The test's dnsmasq was asked for name's qtype records (its log)."""
        log = self.dns.proc.log()
        self.assertRegex(log, r"query\[" + re.escape(qtype) + r"\] " + re.escape(name) + r" from",
                         f"nobody asked dnsmasq for {name} {qtype}:\n{self.dns.proc.log_tail(20)}")

    def assertAlive(self, *hosts):
        for h in hosts:
            if not h.smtpd.alive():
                self.fail(f"{h.smtpd.name} died (exit {h.smtpd.proc.returncode}):\n{h.smtpd.log_tail()}")

    def assertBounce(self, raw, sender_host, recipient, status=r"5\.\d{1,3}\.\d{1,3}", original_marker=None):
        """raw (a stored message) is an RFC 3464 bounce from sender_host for
        recipient with a Status matching `status`; returns the Report."""
        fields, rest = split_trace(raw)
        names = [n.lower() for n, _ in fields]
        self.assertIn("return-path", names, raw[:600])
        self.assertEqual(dict((n.lower(), v) for n, v in fields)["return-path"], "<>",
                         "a bounce's envelope sender is the null sender (RFC 3464 §2, RFC 5321 §4.5.5)")
        report = Report(rest)
        head = rest[:1500].decode("utf-8", "replace")
        self.assertEqual(report.content_type, "multipart/report", head)
        self.assertEqual((report.report_type or "").lower(), "delivery-status", head)
        sender = report.message.get("From", "")
        self.assertRegex(sender, r"(?i)MAILER-DAEMON@" + re.escape(sender_host.hostname), head)
        self.assertEqual(report.status_parts, 1, f"message/delivery-status parts:\n{head}")
        block = report.recipient(recipient)
        self.assertIsNotNone(block, f"no per-recipient block for {recipient}: {report.recipients!r}")
        self.assertEqual(block.get("action", "").lower(), "failed", block)
        self.assertRegex(block.get("status", ""), r"^" + status + r"$", block)
        self.assertIn("reporting-mta", report.per_message, report.per_message)
        if original_marker is not None:
            self.assertIsNotNone(report.original, f"the bounce returns no original message or headers:\n{head}")
            self.assertIn(original_marker.encode(), report.original,
                          f"the returned {report.original_type} lacks the original Subject")
        return report

    def marker(self, what):
        return f"{what}-{uuid.uuid4().hex[:10]}"
