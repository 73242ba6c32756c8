"""The packaging suite (tests/packaging): the shipped files in packaging/,
the .deb, and the daemons as an installation runs them."""

import socket
import subprocess
import time

from aviary_test.daemon import Aviary
from aviary_test.processes import poll
from aviary_test.programs import SOURCE
from aviary_test.smtp import SmtpClient, expect
from aviary_test.sasl import plain_token

PACKAGING = SOURCE / "packaging"


def run(args, timeout=60, check=True, **kw):
    """subprocess.run capturing text output; a failure shows it."""
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def wait_until(predicate, timeout, what):
    """Polls predicate() until it returns a true value, which it returns;
    OSError and ValueError (a server not up yet) count as not yet."""
    last = None

    def attempt():
        nonlocal last
        try:
            return predicate()
        except (OSError, ValueError) as e:
            last = e
            return None
    value = poll(attempt, timeout, 0.1)
    if value:
        return value
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))


def packaging_daemons():
    """aviary-smtpd and aviary-pop3d on one temporary store: port 25 style,
    submission and POP3 (STLS) listeners, both metrics endpoints; started
    as systemd starts them (no death signal: with_parent=False)."""
    return Aviary("packaging", map_size="64MiB", submission=True, smtpd_metrics=True, pop3=True, pop3d_metrics=True,
                  smtpd={"io_threads": 1, "shutdown_timeout": "5s", "auth_failure_delay": "1s"},
                  pop3d={"io_threads": 1, "shutdown_timeout": "5s"}, with_parent=False)


def stop_all(d):
    """SIGTERM both daemons of d; {"aviary-smtpd": exit code, "aviary-pop3d": exit code}."""
    codes = d.stop_all(20)
    return {"aviary-smtpd": codes[d.smtpd], "aviary-pop3d": codes[d.pop3d]}


def greet(port):
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


def traffic(d):
    """Makes every smtpd series that only appears with its first event
    appear: a message accepted, one refused (bare LF), a failed AUTH."""
    d.add_domain("example.test")
    d.add_user("alice@example.test", "right")
    with d.client() as c:
        expect(c.greeting, "220")
        expect(c.ehlo(), "250")
        expect(c.transaction("sender@remote.test", ["alice@example.test"],
                             b"Subject: packaging test\r\n\r\nHello.\r\n"), "250")
        expect(c.cmd("MAIL FROM:<sender@remote.test>"), "250")
        expect(c.cmd("RCPT TO:<alice@example.test>"), "250")
        expect(c.cmd("DATA"), "354")
        expect(c.cmd("Subject: bare LF\r\n\r\nHello.\nWorld.\r\n."), "550")
        expect(c.cmd("QUIT"), "221")
    with SmtpClient(d.submission_port) as c:
        expect(c.greeting, "220")
        expect(c.ehlo(), "250")
        c.starttls(d.tls_context())
        expect(c.ehlo(), "250")
        expect(c.cmd(f"AUTH PLAIN {plain_token('alice@example.test', 'wrong')}"), "535")
        expect(c.cmd("QUIT"), "221")
