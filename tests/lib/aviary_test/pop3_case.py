"""The pop3d suite: aviary-pop3d beside the aviary-smtpd that delivers into
its store, fresh users and a fresh client address per test."""

import itertools
import re

from aviary_test.case import SetupTestCase
from aviary_test.daemon import Aviary
from aviary_test.messages import message
from aviary_test.ports import fresh_source

DOMAINS = ("example.test", "example.org")

POP3D_DEFAULTS = {
    "allow_plaintext_auth": False,
    "idle_timeout": "10m",
    "max_errors": 10,
    "auth_failure_delay": "1s",
    "max_connections": 1000,
    "max_connections_per_ip": 50,
    "io_threads": 2,
    "shutdown_timeout": "5s",
}

SMTPD_DEFAULTS = {
    "max_message_size": "1MiB",
    "max_recipients": 100,
}

DATE = "Mon, 01 Jan 2024 00:00:00 +0000"

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


def mailhost(name="pop3d", pop3d=None, smtpd=None, plain=True, pop3s=True, metrics=True, **options):
    """An Aviary setup as the pop3d suite runs it: both daemons, POP3 on a
    plain (STLS) and an implicit-TLS listener, pop3d's metrics endpoint."""
    return Aviary(name, pop3d={**POP3D_DEFAULTS, **(pop3d or {})}, smtpd={**SMTPD_DEFAULTS, **(smtpd or {})},
                  pop3=plain, pop3s=pop3s, pop3d_metrics=metrics, **options)


def pop3_message(subject, body="Hello.\r\n", sender="sender@remote.test", to="rcpt@example.test"):
    """A small message with a Date field, as the POP3 tests deliver them."""
    return message(subject, body=body, sender=sender, to=to, date=DATE)


class Pop3TestCase(SetupTestCase):
    """One setup per class in cls.host (also cls.daemon), both daemons
    running; populate() before start."""

    pop3d_options = {}
    smtpd_options = {}
    tls = True
    plain = True
    pop3s = True
    metrics = True
    map_size = "256MiB"
    watched = "pop3d"
    start_pop3d = True
    host = None
    _user_counter = None

    @classmethod
    def make_setup(cls):
        cls.host = mailhost(cls.__name__, pop3d=cls.pop3d_options, smtpd=cls.smtpd_options, tls=cls.tls,
                            map_size=cls.map_size, plain=cls.plain, pop3s=cls.pop3s, metrics=cls.metrics)
        cls._user_counter = itertools.count(1)
        return cls.host

    @classmethod
    def populate(cls, h):
        for d in DOMAINS:
            h.add_domain(d)

    def setUp(self):
        self.ip = fresh_source()
        if not self.host.pop3d.alive():
            # an earlier test of the class failed and left it dead (or
            # stopped it): start it again so that this test stands alone
            self.host.restart_pop3d()

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
                c.stls(self.host.tls_context())
        else:
            c = self.pop3s()
        c.login(user, password)
        return c

    def mailbox_with(self, count, subject="msg", body=None):
        """A new user with `count` messages delivered; (user, password, datas)."""
        user, password = self.new_user()
        datas = [pop3_message(f"{subject} {i + 1}", body=body or f"Body of message {i + 1}.\r\n")
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
        self.assertEqual(self.host.store.consistency_problems(), [], "store inconsistent")
