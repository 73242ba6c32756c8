"""A private Postfix instance for the relay interop tests (tests/interop/relay).

`postfix -c DIR start` with its own main.cf and master.cf under a temporary
directory: smtpd on 127.0.0.1:<free port> with STARTTLS offered (a
self-signed certificate), a virtual-mailbox host for pf.test delivering to
Maildir (texthash map: users listed per test), relaying for 127.0.0.0/8 to
the next hops a test puts in transport_maps, its smtp client using
opportunistic STARTTLS. Queue, data directory and maillog stay inside the
temporary directory; no system service is touched. Postfix needs root.

The Aviary side (hosts, dnsmasq, scripted servers, bounce parsing) is the
relay suite's (RelayTestCase).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

from aviary_test.certificates import make_certificate
from aviary_test.ports import can_bind, free_port
from aviary_test.relay_case import RelayTestCase

POSTFIX_HOSTNAME = "postfix.pf.test"

MAIN_CF = """\
compatibility_level = 3.6
myhostname = {hostname}
mydomain = pf.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
relayhost =
queue_directory = {dir}/queue
data_directory = {dir}/data
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
mail_owner = postfix
setgid_group = postdrop
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
readme_directory = no
smtpd_banner = $myhostname ESMTP Postfix
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = {dir}/tls/cert.pem
smtpd_tls_key_file = {dir}/tls/key.pem
smtpd_tls_received_header = yes
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtpd_tls_loglevel = 1
transport_maps = texthash:{dir}/etc/transport
virtual_mailbox_domains = pf.test
virtual_mailbox_base = {dir}/mail
virtual_mailbox_maps = texthash:{dir}/etc/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
# Retry quickly: the tests wait seconds, not minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """One private Postfix instance (see the module docstring)."""

    def __init__(self, base_dir, users=(), transports=None):
        self.dir = Path(base_dir) / "postfix"
        self.etc = self.dir / "etc"
        self.port = free_port()
        self.users = list(users)
        self.transports = dict(transports or {})
        self.started = False
        for sub in ("etc", "queue", "data", "mail", "tls"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        # Postfix's unprivileged processes must reach the queue and mail below
        # the test's own temporary directory (mkdtemp makes it 0700).
        for p in (self.dir, self.dir.parent):
            os.chmod(p, 0o755)
        shutil.chown(self.dir / "data", "postfix")
        uid = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True, check=True).stdout)
        gid = int(subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True, check=True).stdout)
        os.chown(self.dir / "mail", uid, gid)
        make_certificate(self.dir / "tls", POSTFIX_HOSTNAME, "127.0.0.1")
        (self.etc / "main.cf").write_text(MAIN_CF.format(hostname=POSTFIX_HOSTNAME, dir=self.dir, uid=uid, gid=gid))
        (self.etc / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        self.write_maps()

    def write_maps(self):
        (self.etc / "vmailbox").write_text("".join(f"{u} pf.test/{u.split('@')[0]}/\n" for u in self.users))
        (self.etc / "transport").write_text("".join(f"{d} {t}\n" for d, t in self.transports.items()))

    def postfix(self, *args, check=True):
        r = subprocess.run(["postfix", "-c", str(self.etc), *args], capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"postfix {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}\n"
                                 f"{self.log_tail()}")
        return r

    def start(self):
        if shutil.which("postfix") is None:
            raise AssertionError("postfix is not installed (Debian package postfix)")
        self.postfix("check")
        self.started = True
        self.postfix("start")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not can_bind("127.0.0.1", self.port):
                return
            time.sleep(0.1)
        raise AssertionError(f"Postfix did not listen on 127.0.0.1:{self.port} within 20 s\n{self.log_tail()}")

    def master_pid(self):
        try:
            return int((self.dir / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """postfix stop; abort and SIGKILL of the master if it lingers."""
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self.postfix("stop", check=False)
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        if pid:
            self.postfix("abort", check=False)
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def maildir(self, user):
        """The messages delivered to user@pf.test (bytes, CRLF line ends), oldest first."""
        d = self.dir / "mail" / "pf.test" / user.split("@")[0]
        files = []
        for sub in ("new", "cur"):
            if (d / sub).is_dir():
                files += [p for p in (d / sub).iterdir() if p.is_file()]
        files.sort(key=lambda p: p.stat().st_mtime_ns)
        return [p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in files]

    def queue_files(self):
        q = self.dir / "queue"
        return [p for sub in ("maildrop", "incoming", "active", "deferred", "hold")
                if (q / sub).is_dir() for p in (q / sub).rglob("*") if p.is_file()]

    def log(self):
        try:
            return (self.dir / "maillog").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return f"--- Postfix maillog ({self.dir}/maillog) ---\n" + "\n".join(self.log().splitlines()[-n:])


class PostfixTestCase(RelayTestCase):
    """RelayTestCase plus a private Postfix, stopped in a cleanup even on failure."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("a private Postfix instance needs root")
        super().setUp()

    def start_postfix(self, users=(), transports=None):
        pf = Postfix(self.tmp, users=users, transports=transports)
        self.addCleanup(pf.stop)
        self._parts.append(pf)
        pf.start()
        return pf
