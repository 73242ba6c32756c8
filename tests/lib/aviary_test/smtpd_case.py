"""The smtpd suite: aviary-smtpd alone, its port-25 listener and metrics."""

from aviary_test.case import AviaryTestCase
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


class SmtpdTestCase(AviaryTestCase):
    """One daemon per test class; populate() sets up the store before start."""

    smtpd_options = {}
    tls = True
    map_size = "256MiB"
    daemon = None

    @classmethod
    def populate(cls, d):
        standard_population(d)

    @classmethod
    def setUpClass(cls):
        cls.daemon = smtpd_daemon(cls.__name__, smtpd=cls.smtpd_options, tls=cls.tls, map_size=cls.map_size)
        try:
            cls.populate(cls.daemon)
            cls.daemon.start()
        except BaseException:
            print(cls.daemon.logs())
            cls.daemon.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        stop_and_check(cls.daemon)

    def logs(self):
        return self.daemon.logs()

    def tearDown(self):
        if not self.daemon.smtpd.alive():
            self.fail(f"aviary-smtpd died (exit {self.daemon.smtpd.returncode}):\n{self.daemon.smtpd.log_tail()}")

    def client(self, **kw):
        c = self.daemon.client(**kw)
        self.addCleanup(c.close)
        return c


def stop_and_check(d, timeout=30):
    """SIGTERM to the daemons of d, which must exit 0 if aviary-smtpd was
    running; d is cleaned up in any case."""
    try:
        alive = d.smtpd.alive()
        rc = d.stop(timeout=timeout)
        if alive and rc != 0:
            raise AssertionError(f"aviary-smtpd exited {rc} on SIGTERM:\n{d.smtpd.log_tail()}")
    finally:
        d.cleanup()
