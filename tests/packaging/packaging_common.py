"""packaging_common.py - what the packaging tests share.

  paths          the checkout, packaging/, the build's bin/ (AVIARY_BIN) and
                 the build directory itself (AVIARY_BUILD, for cpack);
  free_port      a loopback port nobody listens on;
  Daemons        aviary-smtpd and aviary-pop3d on a temporary store, every
                 listener and both metrics endpoints on free loopback ports;
  run            subprocess.run with a timeout and the output in the failure.

Only the standard library. Every wait is bounded; everything listens on and
connects to loopback only.
"""

import base64
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1]
PACKAGING = SOURCE / "packaging"


def build_dir():
    """The CMake build directory: AVIARY_BUILD from ctest, else build/."""
    env = os.environ.get("AVIARY_BUILD")
    return Path(env) if env else SOURCE / "build"


def bin_dir():
    """The build's bin/ directory: AVIARY_BIN from ctest, else build/bin."""
    env = os.environ.get("AVIARY_BIN")
    return Path(env) if env else build_dir() / "bin"


def program(name):
    path = bin_dir() / name
    if not path.exists():
        # A failure, not a skip: under ctest the programs are always built.
        raise AssertionError(f"{path} does not exist (build first, or set AVIARY_BIN)")
    return str(path)


def tool(name):
    """A program the tests need from the system (tools/install-deps.sh)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise AssertionError(f"{name} is not installed (tools/install-deps.sh installs it)")
    return path


def run(args, timeout=60, check=True, **kw):
    """subprocess.run capturing text output; a failure shows it."""
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


_handed_out = set()


def free_port():
    """A port nobody listens on right now, picked at random below the
    kernel's ephemeral range (32768-60999) so that parallel tests, each
    picking its own the same way, rarely collide (the integration harness
    does the same)."""
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


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8")


def wait_until(predicate, timeout, what):
    """Polls predicate() until it returns a true value, which it returns."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


# ---------------------------------------------------------------------------
# Metrics text.

TYPE_LINE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)\s*$")
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)")


def exported_names(text):
    """Every series name a Prometheus text exposition lets a query use:
    families, plus _bucket/_sum/_count of histograms and _sum/_count of
    summaries, plus any sample name seen."""
    names = set()
    for line in text.splitlines():
        m = TYPE_LINE.match(line)
        if m:
            name, kind = m.groups()
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
            elif kind == "summary":
                names.update({name + "_sum", name + "_count"})
            continue
        m = SAMPLE_LINE.match(line)
        if m and not line.startswith("#"):
            names.add(m.group(1))
    return names


def sample_total(text, name):
    """Sum of the samples of `name` in an exposition (0 if there are none)."""
    total = 0.0
    for line in text.splitlines():
        m = SAMPLE_LINE.match(line)
        if m and m.group(1) == name:
            total += float(m.group(3))
    return total


# ---------------------------------------------------------------------------
# The daemons.

class SmtpDialogue:
    """Just enough SMTP for traffic(): send a line, check the reply code."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""

    def line(self):
        deadline = time.monotonic() + 15
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError("no complete reply line within 15 s")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed, got {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def expect(self, command, code):
        if command is not None:
            self.sock.sendall(command.encode() + b"\r\n")
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        if not lines[-1].startswith(code):
            raise AssertionError(f"{command!r}: expected {code}, got {lines!r}")
        return lines

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate on loopback
        self.sock = ctx.wrap_socket(self.sock, server_hostname=Daemons.HOSTNAME)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


class Daemons:
    """aviary-smtpd and aviary-pop3d on one temporary store, plain TCP only."""

    HOSTNAME = "mail.example.test"

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="aviary-packaging-"))
        self.smtp_port = free_port()
        self.pop3_port = free_port()
        self.smtpd_metrics = free_port()
        self.pop3d_metrics = free_port()
        self.submission_port = free_port()
        self.cert, self.key = self.dir / "cert.pem", self.dir / "key.pem"
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={self.HOSTNAME}"])
        self.config = self.dir / "aviary.toml"
        self.config.write_text("\n".join([
            f'hostname = "{self.HOSTNAME}"',
            "[storage]", f'path = "{self.dir / "store"}"', 'map_size = "64MiB"',
            "[tls]", f'certificate = "{self.cert}"', f'private_key = "{self.key}"',
            "[smtpd]", f'listen = ["127.0.0.1:{self.smtp_port}"]',
            f'submission = ["127.0.0.1:{self.submission_port}"]', "submissions = []",
            f'metrics = "127.0.0.1:{self.smtpd_metrics}"', "io_threads = 1", 'shutdown_timeout = "5s"',
            'auth_failure_delay = "1s"',
            "[pop3d]", f'listen = ["127.0.0.1:{self.pop3_port}"]', "tls_listen = []",
            f'metrics = "127.0.0.1:{self.pop3d_metrics}"', "io_threads = 1", 'shutdown_timeout = "5s"',
            "[password]", 'memory = "1MiB"', "iterations = 1", ""]))
        self.procs = {}

    def ctl(self, *args, input=None):
        return run([program("aviaryctl"), "-c", self.config, *args], input=input)

    def start(self, env=None):
        for name in ("aviary-smtpd", "aviary-pop3d"):
            log = open(self.dir / f"{name}.log", "ab")
            try:
                self.procs[name] = subprocess.Popen([program(name), "-c", str(self.config)],
                                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                    env=None if env is None else {**os.environ, **env})
            finally:
                log.close()
        for name, port in (("aviary-smtpd", self.smtpd_metrics), ("aviary-pop3d", self.pop3d_metrics)):
            wait_until(lambda: self._alive(name) and "# TYPE" in http_get(self.metrics_url(port), timeout=2),
                       30, f"{name} to serve /metrics on port {port}")
        # The metrics listener is up before the mail listeners: wait for the
        # greetings too, from our own processes.
        for name, port, greeting in (("aviary-smtpd", self.smtp_port, b"220"), ("aviary-pop3d", self.pop3_port, b"+OK")):
            wait_until(lambda: self._alive(name) and self.greet(port).startswith(greeting), 30, f"{name} to greet")

    def _alive(self, name):
        proc = self.procs[name]
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited {proc.returncode}:\n{self.log(name)}")
        return True

    def metrics_url(self, port):
        return f"http://127.0.0.1:{port}/metrics"

    def metrics(self, name):
        port = self.smtpd_metrics if name == "aviary-smtpd" else self.pop3d_metrics
        return http_get(self.metrics_url(port))

    def greet(self, port):
        """Connects, reads the greeting line, says QUIT; returns the greeting."""
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            data = b""
            deadline = time.monotonic() + 5
            while b"\r\n" not in data and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(4096)
            except OSError:
                pass
            return data

    def traffic(self):
        """Makes every smtpd series that only appears with its first event
        appear: a message accepted, one refused (bare LF), a failed AUTH."""
        self.ctl("domain", "add", "example.test")
        self.ctl("user", "add", "alice@example.test", "--password-stdin", input="right\n")
        with SmtpDialogue(self.smtp_port) as c:
            c.expect(None, "220")
            c.expect("EHLO client.example.net", "250")
            c.expect("MAIL FROM:<sender@remote.test>", "250")
            c.expect("RCPT TO:<alice@example.test>", "250")
            c.expect("DATA", "354")
            c.expect("Subject: packaging test\r\n\r\nHello.\r\n.", "250")
            c.expect("MAIL FROM:<sender@remote.test>", "250")
            c.expect("RCPT TO:<alice@example.test>", "250")
            c.expect("DATA", "354")
            c.expect("Subject: bare LF\r\n\r\nHello.\nWorld.\r\n.", "550")
            c.expect("QUIT", "221")
        with SmtpDialogue(self.submission_port) as c:
            c.expect(None, "220")
            c.expect("EHLO client.example.net", "250")
            c.expect("STARTTLS", "220")
            c.starttls()
            c.expect("EHLO client.example.net", "250")
            token = base64.b64encode(b"\0alice@example.test\0wrong").decode()
            c.expect(f"AUTH PLAIN {token}", "535")
            c.expect("QUIT", "221")

    def log(self, name):
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        """SIGTERM both; returns {name: exit code} (SIGKILL after 20 s)."""
        codes = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                codes[name] = "killed after SIGTERM timeout"
        return codes

    def cleanup(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        if os.environ.get("AVIARY_KEEP_TMP"):
            print(f"kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)
