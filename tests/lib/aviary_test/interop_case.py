"""The POP3 interop suite (tests/interop/pop3): third-party POP3 clients.

A message goes in with swaks through aviary-smtpd's port-25-style listener;
a third-party POP3 client (fetchmail, getmail6, mpop, curl, Python's poplib)
fetches it from aviary-pop3d with a private HOME and config under the
temporary directory, and delivers it to a file or Maildir there. The result
must equal what swaks sent, byte for byte, apart from the trace header
fields at the top: Aviary's Return-Path, Delivered-To and Received, and the
ones the client itself adds (named per test).

The daemons, certificate and store are the pop3d suite's (Pop3TestCase).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

from aviary_test.messages import split_trace, strip_leading_fields
from aviary_test.pop3_case import Pop3TestCase

AVIARY_TRACE = ("return-path", "delivered-to", "received")

# Exercises dot-stuffing, empty and blank lines, 8-bit text, a long line and
# mbox-style "From " lines. Nothing swaks would rewrite (no backslash-n, no
# %TOKEN%, no leading "From " line, no final lone ".").
MESSAGE = (
    "From: Sender <sender@remote.test>\r\n"
    "To: {rcpt}\r\n"
    "Subject: interop {client} =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Message-ID: <interop-{client}@remote.test>\r\n"
    "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "X-Folded: first part\r\n"
    "\tsecond part\r\n"
    "\r\n"
    "Hello {client}.\r\n"
    ".\r\n"
    "..\r\n"
    ".leading dot\r\n"
    "\r\n"
    "   indented line\r\n"
    "tab\there\r\n"
    "UTF-8: Grüße, δοκιμή, 日本語\r\n"
    + "L" * 900 + "\r\n"
    "From the start of a line\r\n"
    ">From quoted\r\n"
    "end.\r\n"
)


def crlf(data):
    """LF line ends to CRLF (for clients that deliver with LF only)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class InteropTestCase(Pop3TestCase):
    """The daemons of Pop3TestCase plus swaks, client homes and comparisons."""

    pop3d_options = {"allow_plaintext_auth": False}

    def setUp(self):
        super().setUp()
        self.home = self.host.dir / f"home-{self._testMethodName}"
        self.home.mkdir(mode=0o700)

    PACKAGES = {"getmail": "getmail6"}  # program -> Debian package, where they differ

    def need(self, program):
        path = shutil.which(program)
        if not path:
            self.fail(f"{program} is not installed (Debian package {self.PACKAGES.get(program, program)})")
        return path

    def run_client(self, argv, timeout=60, env=None, input=None, check=True):
        """Runs a client with HOME in this test's private directory."""
        full_env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8",
                    "TMPDIR": str(self.home)}
        full_env.update(env or {})
        r = subprocess.run(argv, env=full_env, cwd=str(self.home), capture_output=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            self.fail(f"{argv[0]} exited {r.returncode}\nstdout: {r.stdout.decode(errors='replace')[-3000:]}"
                      f"\nstderr: {r.stderr.decode(errors='replace')[-3000:]}\n{self.host.pop3d.log_tail(30)}")
        return r

    def swaks_send(self, user, client):
        """Sends MESSAGE to user with swaks; returns the bytes sent (CRLF)."""
        swaks = self.need("swaks")
        data = MESSAGE.format(rcpt=user, client=client).encode("utf-8")
        path = self.home / "message.eml"
        # swaks ends the data with CRLF "." CRLF itself: the file has no final line end
        path.write_bytes(data[:-2])
        before = len(self.host.messages(user))
        self.run_client([swaks, "--server", "127.0.0.1", "--port", str(self.host.smtp_port),
                         "--from", "sender@remote.test", "--to", user, "--helo", "client.remote.test",
                         "--data", f"@{path}", "--timeout", "30", "--suppress-data"], timeout=60)
        stored = self.host.messages(user)
        self.assertEqual(len(stored), before + 1, "swaks' message was not stored")
        fields, rest = split_trace(stored[-1])
        self.assertEqual(rest, data, "aviary-smtpd stored something other than what swaks sent")
        return data

    def assertSameMessage(self, retrieved, sent, client_fields=()):
        """retrieved minus leading trace fields (Aviary's and the client's) == sent."""
        names = set(AVIARY_TRACE) | {n.lower() for n in client_fields}
        body = strip_leading_fields(retrieved, names)
        if body != sent:
            for i, (a, b) in enumerate(zip(body, sent)):
                if a != b:
                    break
            else:
                i = min(len(body), len(sent))
            self.fail(f"retrieved message differs from what swaks sent at octet {i}:\n"
                      f"retrieved: {body[max(0, i - 60):i + 60]!r}\n"
                      f"sent:      {sent[max(0, i - 60):i + 60]!r}\n"
                      f"(lengths {len(body)} and {len(sent)})")

    def maildir_messages(self, maildir):
        """The messages in maildir/new and maildir/cur, oldest first."""
        files = []
        for sub in ("new", "cur"):
            d = Path(maildir) / sub
            if d.is_dir():
                files += [p for p in d.iterdir() if p.is_file()]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return [p.read_bytes() for p in files]

    def wait_mailbox_empty(self, user, timeout=10.0):
        """After the client's QUIT the messages are gone (the client deleted them)."""
        deadline = time.monotonic() + timeout
        while self.host.messages(user):
            if time.monotonic() > deadline:
                self.fail(f"{user} still has {len(self.host.messages(user))} messages after the client's QUIT")
            time.sleep(0.1)

    def write_private(self, name, text):
        path = self.home / name
        path.write_text(text)
        os.chmod(path, 0o600)
        return path

