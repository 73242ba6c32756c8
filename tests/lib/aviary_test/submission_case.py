"""The submission suite: aviary-smtpd with its three SMTP listeners (port 25
style MX, submission with STARTTLS, submissions with implicit TLS),
auth_failure_delay 1s, max_auth_failures 10, the Argon2 cost per class."""

from aviary_test.case import SetupTestCase
from aviary_test.certificates import HOSTNAME
from aviary_test.daemon import Aviary, parked_relay
from aviary_test.ports import fresh_source
from aviary_test.sasl import plain_token
from aviary_test.smtp import SmtpClient

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


def plain(user, secret=None, authzid=""):
    """The AUTH PLAIN response (RFC 4616) for user, with its own password by default."""
    return plain_token(user, password(user) if secret is None else secret, authzid)


def submission_daemon(name="submission", smtpd=None, routes=None, **options):
    """An Aviary setup as the submission suite runs it; routes: relay.routes."""
    relay = parked_relay()
    if routes:
        relay["routes"] = dict(routes)
    return Aviary(name, smtpd={"auth_failure_delay": "1s", "max_auth_failures": 10, "max_errors": 10, **(smtpd or {})},
                  submission=True, submissions=True, smtpd_metrics=True, relay=relay, **options)


def standard_population(d):
    """The domains, users (PASSWORDS) and aliases of every submission daemon."""
    for domain in DOMAINS:
        d.add_domain(domain)
    for user, secret in PASSWORDS.items():
        d.add_user(user, password=secret)
    for source, targets in ALIASES.items():
        d.add_alias(source, *targets)


class SubmissionTestCase(SetupTestCase):
    """One submission daemon per class; clients already through STARTTLS and
    AUTH if asked, each from a fresh loopback source address so that per-IP
    throttling never leaks from one test into another."""

    smtpd_options = {}
    routes = None
    password_memory = "1MiB"
    password_iterations = 1

    @classmethod
    def make_setup(cls):
        return submission_daemon(cls.__name__, smtpd=cls.smtpd_options, routes=cls.routes,
                                 password_memory=cls.password_memory, password_iterations=cls.password_iterations)

    @classmethod
    def populate(cls, d):
        standard_population(d)

    # -- clients --------------------------------------------------------------

    def tls_context(self):
        return self.daemon.tls_context()

    def _keep(self, c):
        self.addCleanup(c.close)
        return c

    def mx(self, source=None, timeout=15.0):
        """A plain connection to the port-25 listener, greeting read."""
        return self._keep(SmtpClient(self.daemon.smtp_port, source=source or fresh_source(), timeout=timeout))

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
