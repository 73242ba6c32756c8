"""Aviary: one temporary setup and its daemons.

A directory with a certificate, aviary.toml (written from the options
below), the LMDB store made with aviaryctl, and aviary-smtpd and
aviary-pop3d as child processes on loopback. Every suite builds its setups
with this one class; what differs is the options:

  ip, hostname       the loopback address everything listens on, the name
                     the daemons greet with (and the certificate's name);
  smtp_port          the port-25-style listener (a free port by default);
  submission, submissions, smtpd_metrics    more aviary-smtpd listeners;
  pop3, pop3s, pop3d_metrics                aviary-pop3d's listeners;
  smtpd, pop3d       further keys of [smtpd] and [pop3d];
  relay              the [relay] section (None: none), see parked_relay();
  top                more top-level keys (user, group);
  wrapper, prepare   run aviary-smtpd under a wrapper (valgrind), or call
                     prepare() in the child before exec (resource limits);
  with_parent        False: the daemons outlive a killed test run, started
                     as an init system starts them (processes.Proc).

Every wait is bounded; readiness probes come from ports.PROBE_SOURCE.
"""

import json
import subprocess
import shutil
import smtplib
import socket
import tempfile
import threading
import time
from pathlib import Path

from aviary_test import config
from aviary_test.certificates import HOSTNAME, make_certificate, tls_context
from aviary_test.metrics import fetch, parse_metrics
from aviary_test.pop3 import Pop3Client
from aviary_test.ports import PROBE_SOURCE, SETUP_SOURCE, free_port
from aviary_test.processes import Proc
from aviary_test.programs import keep_tmp, program
from aviary_test.smtp import ConnectionClosed, SmtpClient, expect
from aviary_test.store import Store


def parked_relay():
    """[relay] for suites about receiving: queued mail stays queued. The queue
    runner's only next hop is a loopback port nobody listens on (connection
    refused: deferred, next try in an hour), so it never asks a real DNS
    server and never removes what a test wants to look at."""
    return {"smarthost": f"127.0.0.1:{free_port()}", "retry": ["1h"]}


class Aviary:
    """One temporary Aviary setup (see the module docstring)."""

    def __init__(self, name, *, base_dir=None, ip="127.0.0.1", hostname=HOSTNAME, tls=True, key_type="ec",
                 map_size="256MiB", smtp_port=None, submission=False, submissions=False, smtpd_metrics=False,
                 pop3=False, pop3s=False, pop3d_metrics=False, smtpd=None, pop3d=None, relay=None,
                 password_memory="1MiB", password_iterations=1, top=None, wrapper=(), prepare=None, with_parent=True):
        if base_dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"aviary-{name}-"))
        else:
            self.dir = Path(base_dir) / name
            self.dir.mkdir(parents=True)
        self.name, self.ip, self.hostname, self.tls = name, ip, hostname, tls
        self.map_size = map_size
        self.smtp_port = smtp_port or free_port([ip])
        self.submission_port = free_port([ip]) if submission else None
        self.submissions_port = free_port([ip]) if submissions and tls else None
        self.smtpd_metrics_port = free_port([ip]) if smtpd_metrics else None
        self.pop3_port = free_port([ip]) if pop3 else None
        self.pop3s_port = free_port([ip]) if pop3s and tls else None
        self.pop3d_metrics_port = free_port([ip]) if pop3d_metrics else None
        self.smtpd_options = dict(smtpd or {})
        self.pop3d_options = dict(pop3d or {})
        self.relay = None if relay is None else dict(relay)
        self.top = dict(top or {})
        self.password_memory, self.password_iterations = password_memory, password_iterations
        self.store_path = self.dir / "store"
        self.config = self.dir / "aviary.toml"
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_certificate(self.dir, hostname, ip, key_type)
        self.store = Store(self.store_path)
        self.passwords = {}
        argv = ["-c", self.config]
        self.smtpd = Proc(f"aviary-smtpd {name} ({self.hostname} {ip}:{self.smtp_port})",
                          [*wrapper, program("aviary-smtpd"), *argv], self.dir / "smtpd.log", prepare, with_parent)
        self.pop3d = Proc(f"aviary-pop3d {name}", [program("aviary-pop3d"), *argv], self.dir / "pop3d.log",
                          with_parent=with_parent)
        self.extra = []  # more daemons on the same store: second_pop3d()
        self.write_config()

    # -- aviary.toml ----------------------------------------------------------

    def _endpoint(self, port):
        return f"{self.ip}:{port}" if port else ""

    def _endpoints(self, port):
        return [self._endpoint(port)] if port else []

    def settings(self, **ports):
        """The configuration as a dict; ports overrides any of the *_port
        attributes (0: that listener off), e.g. for a second daemon."""
        port = {k: ports.get(k, getattr(self, k)) for k in
                ("smtp_port", "submission_port", "submissions_port", "smtpd_metrics_port",
                 "pop3_port", "pop3s_port", "pop3d_metrics_port")}
        s = {**self.top, "hostname": self.hostname, "storage": {"path": self.store_path, "map_size": self.map_size}}
        if self.tls:
            s["tls"] = {"certificate": self.cert, "private_key": self.key}
        s["smtpd"] = {"listen": self._endpoints(port["smtp_port"]),
                      "metrics": self._endpoint(port["smtpd_metrics_port"]),
                      "submission": self._endpoints(port["submission_port"]),
                      "submissions": self._endpoints(port["submissions_port"]),
                      **self.smtpd_options}
        s["pop3d"] = {"listen": self._endpoints(port["pop3_port"]),
                      "tls_listen": self._endpoints(port["pop3s_port"]),
                      "metrics": self._endpoint(port["pop3d_metrics_port"]),
                      **self.pop3d_options}
        if self.relay is not None:
            s["relay"] = dict(self.relay)
        s["password"] = {"memory": self.password_memory, "iterations": self.password_iterations}
        return s

    def config_text(self, **ports):
        return config.render(self.settings(**ports))

    def write_config(self, path=None, **ports):
        Path(path or self.config).write_text(self.config_text(**ports))

    # -- aviaryctl ------------------------------------------------------------

    def ctl(self, *args, input=None, check=True, config=None):
        r = subprocess.run([program("aviaryctl"), "-c", str(config or self.config), *args],
                           input=input, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: aviaryctl {' '.join(args)} exited {r.returncode}: "
                                 f"{r.stderr.strip()}")
        return r

    def add_domain(self, domain):
        self.ctl("domain", "add", domain)

    def add_user(self, address, password=None, quota=None, config=None):
        """A user with password (pw-<local part>-S3cret by default); returns
        (address, password) and keeps the password in self.passwords."""
        password = password or f"pw-{address.split('@')[0]}-S3cret"
        args = ["user", "add", address, "--password-stdin"]
        if quota:
            args += ["--quota", quota]
        self.ctl(*args, input=password + "\n", config=config)
        self.passwords[address] = password
        return address, password

    def add_alias(self, source, *targets):
        self.ctl("alias", "add", source, *targets)

    def stat(self, address):
        """{"messages": N, "bytes": B, ...} from aviaryctl --json mailbox stat."""
        return json.loads(self.ctl("--json", "mailbox", "stat", address).stdout)

    def queue(self):
        """aviaryctl --json queue list, parsed."""
        return json.loads(self.ctl("--json", "queue", "list").stdout)

    def flush(self):
        return self.ctl("queue", "flush").stdout

    # -- the store ------------------------------------------------------------

    def count(self, address):
        return len(self.store.messages(address))

    def messages(self, address):
        """The stored messages of address, in UID order, as bytes."""
        return [m for _uid, m in self.store.messages(address)]

    # -- the processes --------------------------------------------------------

    def start(self, smtpd=True, pop3d=False, wait=True, timeout=30.0, env=None):
        """env: variables added to the daemons' environment (NOTIFY_SOCKET)."""
        if smtpd:
            self.smtpd.start(env)
        if pop3d:
            self.pop3d.start(env)
        if wait and smtpd:
            self.wait_smtpd(timeout)
        if wait and pop3d:
            self.wait_pop3d(timeout=timeout)

    def wait_smtpd(self, timeout=30.0):
        """Until our aviary-smtpd greets on the port-25 listener, then until
        its submission listeners accept connections."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self._check_alive(self.smtpd)
            try:
                with SmtpClient(self.smtp_port, host=self.ip, timeout=5, source=PROBE_SOURCE) as c:
                    if c.greeting.code == 220 and self.hostname in c.greeting.text:
                        c.quit_quietly()
                        # The greeting must have come from our daemon, not
                        # from another test's that holds the port.
                        time.sleep(0.05)
                        self._check_alive(self.smtpd)
                        for port in (self.submission_port, self.submissions_port):
                            if port:
                                self.wait_listening(port, deadline - time.monotonic())
                        return
                    last = c.greeting
            except (OSError, ConnectionClosed) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"aviary-smtpd not ready within {timeout}s ({last!r}):\n{self.smtpd.log_tail()}")

    def wait_listening(self, port, timeout=15.0):
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            try:
                with socket.create_connection((self.ip, port), timeout=2, source_address=(SETUP_SOURCE, 0)):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing listens on port {port}:\n{self.smtpd.log_tail()}")
                time.sleep(0.05)

    def wait_pop3d(self, proc=None, port=None, tls=False, timeout=30.0):
        """Until the daemon greets +OK on its plain listener (else POP3S)."""
        proc = proc or self.pop3d
        if port is None:
            port, tls = (self.pop3_port, False) if self.pop3_port else (self.pop3s_port, True)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self._check_alive(proc)
            try:
                with Pop3Client(port, host=self.ip, tls=tls, context=self.tls_context() if tls else None,
                                timeout=5, source=PROBE_SOURCE) as c:
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

    @staticmethod
    def _check_alive(proc):
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.returncode} at start:\n{proc.log_tail()}")

    def restart_pop3d(self):
        self.pop3d.start()
        self.wait_pop3d()

    def second_pop3d(self):
        """Another aviary-pop3d process on the same store, its own ports.

        Returns (proc, plain_port)."""
        port = free_port([self.ip])
        n = len(self.extra) + 2
        config = self.dir / f"aviary-{n}.toml"
        self.write_config(config, pop3_port=port, pop3s_port=0, pop3d_metrics_port=0, smtp_port=free_port([self.ip]),
                          submission_port=0, submissions_port=0, smtpd_metrics_port=0)
        proc = Proc(f"aviary-pop3d #{n}", [program("aviary-pop3d"), "-c", str(config)], self.dir / f"pop3d-{n}.log")
        self.extra.append(proc)
        proc.start()
        self.wait_pop3d(proc, port, False)
        return proc, port

    def stop_all(self, timeout=30.0):
        """SIGTERM to every daemon at once, then their exit codes by Proc."""
        procs = [self.smtpd, self.pop3d, *self.extra]
        for p in procs:
            p.terminate()
        return {p: p.reap(timeout) for p in procs}

    def stop(self, timeout=30.0):
        """Every daemon; returns aviary-smtpd's exit code (None if it never ran)."""
        return self.stop_all(timeout)[self.smtpd]

    def cleanup(self):
        for p in [self.pop3d, self.smtpd, *self.extra]:
            p.kill()
        if keep_tmp():
            print(f"kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self, n=60):
        return "\n".join(p.log_tail(n) for p in [self.smtpd, self.pop3d, *self.extra] if p.proc is not None)

    # -- clients --------------------------------------------------------------

    def tls_context(self):
        return tls_context(self.cert)

    def client(self, **kw):
        """An SMTP client on the port-25 listener, greeting read."""
        return SmtpClient(self.smtp_port, host=self.ip, **kw)

    def pop3(self, **kw):
        """A POP3 client on the plain listener."""
        return Pop3Client(self.pop3_port, host=self.ip, **kw)

    def pop3s(self, **kw):
        """A POP3 client on the implicit-TLS listener."""
        kw.setdefault("context", self.tls_context())
        return Pop3Client(self.pop3s_port, host=self.ip, tls=True, **kw)

    def metrics_text(self, daemon="smtpd"):
        port = self.smtpd_metrics_port if daemon == "smtpd" else self.pop3d_metrics_port
        return fetch(f"http://{self.ip}:{port}/metrics")

    def metrics(self, daemon="smtpd"):
        """The samples of one daemon's endpoint: {(name, frozenset(labels)): value}."""
        return parse_metrics(self.metrics_text(daemon))

    def inject(self, sender, recipients, data, source=SETUP_SOURCE):
        """A plain port-25 session (as another MTA would open); final reply."""
        with SmtpClient(self.smtp_port, host=self.ip, timeout=30, source=source) as c:
            expect(c.ehlo("peer.example.net"), "250")
            r = c.transaction(sender, recipients, data)
            c.quit_quietly()
            return r

    def deliver(self, recipients, data, sender="sender@remote.test"):
        """One message through aviary-smtpd; asserts the 250."""
        if isinstance(recipients, str):
            recipients = [recipients]
        with SmtpClient(self.smtp_port, host=self.ip, timeout=60, source=PROBE_SOURCE) as c:
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
                with SmtpClient(self.smtp_port, host=self.ip, timeout=120, source=PROBE_SOURCE) as c:
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
