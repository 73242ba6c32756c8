"""submission_harness.py - aviary-smtpd with its submission listeners on loopback.

Builds on ../smtpd/harness.py (imported, not copied: SmtpClient, Reply,
StoreReader, Daemon) and adds what the submission tests need:
  SubmissionDaemon   the daemon with three SMTP listeners (port 25 style MX,
                     submission with STARTTLS, submissions with implicit TLS),
                     a certificate for both DNS:mail.example.test and
                     IP:127.0.0.1, auth_failure_delay 1s, max_auth_failures 10,
                     and the Argon2 cost chosen per test class;
  SubmissionTestCase a unittest base class: one daemon per class, clients
                     already through STARTTLS/AUTH, a fresh loopback source
                     address per client so that per-IP throttling never leaks
                     from one test into another;
  Store              the outbound queue, mailbox records with their blob ids,
                     and blob reference counts, read from LMDB read-only.

Standard library, python3-lmdb and openssl only; loopback only; every wait
is bounded.
"""

import base64
import itertools
import re
import struct
import subprocess
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "smtpd"))

import harness  # noqa: E402  (../smtpd/harness.py)
from harness import (  # noqa: E402,F401
    HOSTNAME, ConnectionClosed, Decoder, Reply, SmtpClient, StoreReader, client_tls_context, dot_stuff,
    expect, fold_address, free_port, program, relay_section, split_trace, toml_value)

# Users, their passwords and aliases of every submission daemon. The
# passwords are distinctive so that a test can look for them in the log.
PASSWORDS = {
    "alice@example.test": "Alice-pw-7f3a9Q",
    "bob@example.test": "Bob-pw-c41e2Z",
    "carol@example.org": "Carol-pw-55d0aX",
    "δοκιμή@example.test": "Δοκιμή-pw-9b1cK",
}
ALIASES = {
    "sales@example.test": ["alice@example.test"],
    "bobalias@example.test": ["bob@example.test"],
    "team@example.test": ["alice@example.test", "bob@example.test"],
    "@catchall.test": ["carol@example.org"],
}
DOMAINS = ["example.test", "example.org", "catchall.test"]


def password(user):
    return PASSWORDS[user]


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def plain(user, secret=None, authzid=""):
    """The AUTH PLAIN response (RFC 4616) for user, with its own password by default."""
    secret = password(user) if secret is None else secret
    return b64(f"{authzid}\0{user}\0{secret}")


def make_certificate(directory):
    """Self-signed EC certificate for mail.example.test and 127.0.0.1 (SAN)."""
    cert = Path(directory) / "submission-cert.pem"
    key = Path(directory) / "submission-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={HOSTNAME}", "-addext", f"subjectAltName=DNS:{HOSTNAME},IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return cert, key


# ---------------------------------------------------------------------------
# Metrics.

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(label items)): value}."""
    samples = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        samples[(m.group(1), frozenset(LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return samples


def metric(samples, name, **labels):
    """Sum of name's samples whose labels include `labels` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= set(l))


# ---------------------------------------------------------------------------
# The store: what harness.StoreReader does not read.

QUEUE_TABLE = b"queue"
MAILBOX_TABLE = b"mailboxes"
BLOB_META_TABLE = b"blob_meta"
BLOB_TABLE = b"blob_data"
RECIPIENT_STATUS = {0: "pending", 1: "delivered", 2: "failed"}


class Store(StoreReader):
    """Read-only LMDB view (storage/schema.hpp, storage/queue.cpp, storage/blob.cpp)."""

    def _read(self, fn):
        env = self._open()
        try:
            with env.begin() as txn:
                return fn(env, txn)
        finally:
            env.close()

    def queue(self):
        """[{id, message_id, sender, blob_id, created, next_attempt, attempts, recipients:
        [(address, status, diagnostic)]}], queue id order.

        Record versions: 1 = sender, blob, created, next, attempts, recipients;
        2 = message id first and a flags octet after attempts (storage/queue.cpp)."""
        def read(env, txn):
            try:
                db = env.open_db(QUEUE_TABLE, txn=txn, create=False)
            except Exception:  # lmdb.NotFoundError: no queue table yet
                return []
            out = []
            for key, raw in txn.cursor(db=db):
                d = Decoder(raw)
                version = d.u8()
                if version not in (1, 2):
                    raise AssertionError(f"unknown queue record version {version}")
                entry = {"id": struct.unpack(">Q", key)[0], "message_id": None}
                if version >= 2:
                    entry["message_id"] = d.str().decode("utf-8")
                entry.update(sender=d.str().decode("utf-8"), blob_id=d.u64(), created=d.i64(),
                             next_attempt=d.i64(), attempts=d.u32(), recipients=[])
                if version >= 2:
                    entry["flags"] = d.u8()
                for _ in range(d.u32()):
                    address = d.str().decode("utf-8")
                    status = d.u8()
                    diagnostic = d.str().decode("utf-8", "replace")
                    entry["recipients"].append((address, RECIPIENT_STATUS.get(status, status), diagnostic))
                if d.pos != len(d.raw):
                    raise AssertionError(f"queue record {entry['id']} has trailing bytes")
                out.append(entry)
            return out
        return self._read(read)

    def mailbox(self, address):
        """[{uid, blob_id, size, prefix, data}] of address's messages, uid order."""
        def read(env, txn):
            user = self._users(env, txn).get(fold_address(address))
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
                    d = Decoder(raw)
                    if d.u8() != 1:
                        raise AssertionError("unknown mailbox record version")
                    record = {"uid": struct.unpack(">I", key[8:12])[0], "blob_id": d.u64(), "size": d.u64()}
                    d.i64()  # arrival
                    record["prefix"] = d.str()
                    body = txn.get(struct.pack(">Q", record["blob_id"]), db=blobs)
                    if body is None:
                        raise AssertionError(f"{address} uid {record['uid']}: blob {record['blob_id']} missing")
                    record["data"] = record["prefix"] + bytes(body)
                    out.append(record)
            return out
        return self._read(read)

    def snapshot(self, addresses):
        """(messages per address..., queue entries), all from ONE read
        transaction, i.e. one consistent state of the store."""
        def read(env, txn):
            users = self._users(env, txn)
            mailboxes = env.open_db(MAILBOX_TABLE, txn=txn, create=False)
            out = ()
            for address in addresses:
                prefix = struct.pack(">Q", users[fold_address(address)]["id"])
                count = 0
                cursor = txn.cursor(db=mailboxes)
                if cursor.set_range(prefix):
                    for key in cursor.iternext(keys=True, values=False):
                        if not key.startswith(prefix):
                            break
                        count += 1
                out += (count,)
            try:
                queue = env.open_db(QUEUE_TABLE, txn=txn, create=False)
                entries = txn.stat(queue)["entries"]
            except Exception:  # lmdb.NotFoundError: no queue table yet
                entries = 0
            return out + (entries,)
        return self._read(read)

    def blob(self, blob_id):
        """(refs, size, data) of a blob, or None."""
        def read(env, txn):
            meta = env.open_db(BLOB_META_TABLE, txn=txn, create=False)
            data = env.open_db(BLOB_TABLE, txn=txn, create=False)
            raw = txn.get(struct.pack(">Q", blob_id), db=meta)
            if raw is None:
                return None
            d = Decoder(raw)
            if d.u8() != 1:
                raise AssertionError("unknown blob record version")
            refs, size = d.u32(), d.u64()
            body = txn.get(struct.pack(">Q", blob_id), db=data)
            return refs, size, None if body is None else bytes(body)
        return self._read(read)


# ---------------------------------------------------------------------------
# The daemon.

class SubmissionDaemon(harness.Daemon):
    """harness.Daemon plus the submission listeners and their settings."""

    def __init__(self, smtpd=None, name="submission", password_memory="1MiB", password_iterations=1):
        self.submission_port = free_port()
        self.submissions_port = free_port()
        self.password_memory = password_memory
        self.password_iterations = password_iterations
        options = {"auth_failure_delay": "1s", "max_auth_failures": 10, "max_errors": 10}
        options.update(smtpd or {})
        self._own_cert = False
        super().__init__(tls=True, smtpd=options, name=name)
        self.store = Store(self.store_path)

    def write_config(self):
        if not self._own_cert:
            self.cert, self.key = make_certificate(self.dir)
            self._own_cert = True
        lines = [f'hostname = "{HOSTNAME}"', "", "[storage]",
                 f"path = {toml_value(self.store_path)}", f"map_size = {toml_value(self.map_size)}", "",
                 "[tls]", f"certificate = {toml_value(self.cert)}", f"private_key = {toml_value(self.key)}", "",
                 "[smtpd]",
                 f'listen = ["127.0.0.1:{self.port}"]',
                 f'submission = ["127.0.0.1:{self.submission_port}"]',
                 f'submissions = ["127.0.0.1:{self.submissions_port}"]',
                 f'metrics = "127.0.0.1:{self.metrics_port}"']
        lines += [f"{k} = {toml_value(v)}" for k, v in self.options.items()]
        lines += ["", "[pop3d]", "listen = []", "tls_listen = []", 'metrics = ""', ""]
        lines += relay_section()
        lines += ["[password]", f"memory = {toml_value(self.password_memory)}",
                  f"iterations = {self.password_iterations}", ""]
        self.config.write_text("\n".join(lines))

    def populate(self):
        for domain in DOMAINS:
            self.add_domain(domain)
        for user, secret in PASSWORDS.items():
            self.add_user(user, password=secret)
        for source, targets in ALIASES.items():
            self.add_alias(source, *targets)

    def metrics(self):
        return parse_metrics(self.metrics_text())


# Source addresses 127.0.1.1, 127.0.1.2, ... : one per client unless a test
# chooses, so that failed logins of one test never throttle another.
_sources = (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())


def fresh_source():
    return next(_sources)


class SubmissionTestCase(unittest.TestCase):
    """One SubmissionDaemon per class."""

    smtpd_options = {}
    password_memory = "1MiB"
    password_iterations = 1
    daemon_class = None  # a SubmissionDaemon subclass, e.g. with more configuration
    daemon = None

    @classmethod
    def setUpClass(cls):
        daemon_class = cls.daemon_class or SubmissionDaemon
        cls.daemon = daemon_class(smtpd=cls.smtpd_options, name=cls.__name__,
                                      password_memory=cls.password_memory,
                                      password_iterations=cls.password_iterations)
        client_tls_context.cafile = cls.daemon.cert
        try:
            cls.daemon.populate()
            cls.daemon.start()
            cls.wait_listening(cls.daemon.submission_port)
            cls.wait_listening(cls.daemon.submissions_port)
        except BaseException:
            print(cls.daemon.log_tail())
            cls.daemon.cleanup()
            raise

    @classmethod
    def wait_listening(cls, port, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                import socket
                with socket.create_connection(("127.0.0.1", port), timeout=2,
                                              source_address=("127.0.0.253", 0)):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing listens on port {port}:\n{cls.daemon.log_tail()}")
                time.sleep(0.05)

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

    # -- clients --------------------------------------------------------------

    def tls_context(self):
        return client_tls_context(self.daemon.cert)

    def _keep(self, c):
        self.addCleanup(c.close)
        return c

    def mx(self, source=None, timeout=15.0):
        """A plain connection to the port-25 listener, greeting read."""
        return self._keep(SmtpClient(self.daemon.port, source=source or fresh_source(), timeout=timeout))

    def submission(self, source=None, timeout=15.0):
        """A plain connection to the submission listener, greeting read."""
        return self._keep(SmtpClient(self.daemon.submission_port, source=source or fresh_source(), timeout=timeout))

    def submissions(self, source=None, timeout=15.0):
        """An implicit-TLS connection (RFC 8314) to the submissions listener,
        certificate verified, greeting read."""
        c = self._keep(SmtpClient(self.daemon.submissions_port, source=source or fresh_source(),
                                  timeout=timeout, greeting=False))
        c.handshake(self.tls_context(), server_hostname=HOSTNAME)
        c.greeting = c.reply()
        return c

    def session(self, listener="submission", user=None, source=None, timeout=15.0):
        """A session inside TLS after EHLO; authenticated (AUTH PLAIN) as user if given."""
        if listener == "submission":
            c = self.submission(source, timeout)
            self.assertReply(c.greeting, "220")
            self.assertReply(c.ehlo(), "250")
            c.starttls(self.tls_context())
        else:
            c = self.submissions(source, timeout)
            self.assertReply(c.greeting, "220")
        self.assertReply(c.ehlo(), "250")
        if user is not None:
            self.assertReply(c.cmd(f"AUTH PLAIN {plain(user)}"), "235", "2.7.0", what=f"AUTH as {user}")
        return c

    # -- assertions -----------------------------------------------------------

    def assertReply(self, reply, code, enhanced=None, fragment=None, what=""):
        try:
            expect(reply, code, enhanced, fragment, what)
        except AssertionError as e:
            raise self.failureException(str(e)) from None

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out after {timeout}s waiting for {what}")


def header_fields(message):
    """[(name, unfolded value)] of a message's header section (bytes in)."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    fields = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def field_values(message, name):
    return [v for n, v in header_fields(message) if n.lower() == name.lower()]
