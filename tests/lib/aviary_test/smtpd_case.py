"""The smtpd suite: aviary-smtpd alone, its port-25 listener and metrics."""

from aviary_test.case import SetupTestCase
from aviary_test.daemon import Aviary, parked_relay

SMTPD_DEFAULTS = {
    "max_message_size": "1MiB",
    "max_recipients": 5,
    "max_connections": 300,
    "max_connections_per_ip": 250,
    "max_errors": 10,
    "command_timeout": "5m",
    "data_timeout": "3m",
    "shutdown_timeout": "5s",
    "io_threads": 2,
}


def smtpd_daemon(name="smtpd", smtpd=None, **options):
    """An Aviary setup as the smtpd suite runs it: SMTPD_DEFAULTS plus
    `smtpd`, the metrics endpoint, queued mail parked (parked_relay)."""
    options.setdefault("relay", parked_relay())
    return Aviary(name, smtpd={**SMTPD_DEFAULTS, **(smtpd or {})}, smtpd_metrics=True, pop3=True, **options)


def standard_population(d):
    """Domains, users and aliases most tests use."""
    d.add_domain("example.test")
    d.add_domain("example.org")
    d.add_domain("catchall.test")
    d.add_user("alice@example.test")
    d.add_user("bob@example.test")
    d.add_user("carol@example.org")
    d.add_user("δοκιμή@example.test")
    d.add_alias("team@example.test", "alice@example.test", "bob@example.test")
    d.add_alias("@catchall.test", "carol@example.org")


class SmtpdTestCase(SetupTestCase):
    """One daemon per test class; populate() sets up the store before start."""

    smtpd_options = {}
    tls = True
    map_size = "256MiB"

    @classmethod
    def make_setup(cls):
        return smtpd_daemon(cls.__name__, smtpd=cls.smtpd_options, tls=cls.tls, map_size=cls.map_size)

    @classmethod
    def populate(cls, d):
        standard_population(d)

    def client(self, **kw):
        c = self.daemon.client(**kw)
        self.addCleanup(c.close)
        return c
