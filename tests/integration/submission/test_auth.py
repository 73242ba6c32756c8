"""test_auth.py - AUTH on the submission listeners (RFC 4954, RFC 8314).

What a dialogue script cannot say well: the exact EHLO keyword lists per
listener and TLS state, the failure delay (535 only after
auth_failure_delay), that a failed or refused exchange authenticates nobody,
the log line per failure without the password, and the
aviary_smtpd_auth_attempts_total counters.
"""

import re
import time
import unittest

from aviary_test.metrics import metric
from aviary_test.ports import fresh_source
from aviary_test.sasl import b64
from aviary_test.submission_case import PASSWORDS, SubmissionTestCase, plain

DELAY = 1.0  # auth_failure_delay of the daemon
SLACK = 0.1  # timer and scheduling tolerance


def auth_line(reply):
    """The EHLO line that announces AUTH, or None."""
    for line in reply.lines[1:]:
        if line.split() and line.split()[0].upper() in ("AUTH", "AUTH="):
            return line
        if line.upper().startswith("AUTH="):
            return line
    return None


class EhloOffersTest(SubmissionTestCase):

    def test_submission_before_tls_offers_starttls_not_auth(self):
        c = self.submission()
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertIn("STARTTLS", r.keywords(), repr(r))
        self.assertIsNone(auth_line(r), f"AUTH offered before TLS:\n{r!r}")

    def test_submission_after_starttls_offers_auth_not_starttls(self):
        c = self.session("submission")
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertNotIn("STARTTLS", r.keywords(), repr(r))
        line = auth_line(r)
        self.assertIsNotNone(line, f"no AUTH after STARTTLS:\n{r!r}")
        self.assertEqual(set(line.upper().split()[1:]), {"PLAIN", "LOGIN"}, repr(r))

    def test_submissions_offers_auth_not_starttls(self):
        c = self.submissions()
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertNotIn("STARTTLS", r.keywords(), repr(r))
        line = auth_line(r)
        self.assertIsNotNone(line, f"no AUTH on the implicit-TLS port:\n{r!r}")
        self.assertEqual(set(line.upper().split()[1:]), {"PLAIN", "LOGIN"}, repr(r))

    def test_mx_never_offers_auth(self):
        c = self.mx()
        r = c.ehlo()
        self.assertIsNone(auth_line(r), f"AUTH offered on port 25:\n{r!r}")
        c.starttls(self.tls_context())
        r = c.ehlo()
        self.assertReply(r, "250")
        self.assertIsNone(auth_line(r), f"AUTH offered on port 25 inside TLS:\n{r!r}")

    def test_mx_refuses_auth_with_right_password(self):
        c = self.mx()
        self.assertReply(c.ehlo(), "250")
        c.starttls(self.tls_context())
        self.assertReply(c.ehlo(), "250")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('alice@example.test')}"), "503", "5.5.1")
        # Not authenticated: relaying stays closed.
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")
        self.assertReply(c.cmd("RCPT TO:<someone@remote.test>"), "554", "5.7.1")


class AuthTest(SubmissionTestCase):

    def timed(self, c, line):
        start = time.monotonic()
        r = c.cmd(line)
        return r, time.monotonic() - start

    def assertNotAuthenticated(self, c, user="alice@example.test"):
        self.assertReply(c.cmd(f"MAIL FROM:<{user}>"), "530", "5.7.0", what="MAIL after a failed AUTH")

    # -- success ----------------------------------------------------------------

    def test_plain_success_is_not_delayed(self):
        # An account no test of this class fails a login of: failures delay
        # the account's later logins from any address (issue 11, item 30).
        user = "δοκιμή@example.test"
        c = self.session("submission")
        r, elapsed = self.timed(c, f"AUTH PLAIN {plain(user)}")
        self.assertReply(r, "235", "2.7.0")
        self.assertLess(elapsed, DELAY - SLACK, "a successful login waited like a failed one")
        self.assertReply(c.cmd(f"MAIL FROM:<{user}> SMTPUTF8"), "250")

    def test_plain_with_authzid_of_the_same_user(self):
        c = self.session("submissions")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('bob@example.test', authzid='bob@example.test')}"), "235", "2.7.0")
        self.assertReply(c.cmd("MAIL FROM:<bob@example.test>"), "250")

    def test_plain_with_authzid_of_another_user_is_refused(self):
        # RFC 4616 §2: alice's credentials, asking to act as bob. Nobody may be
        # logged in afterwards.
        c = self.session("submissions")
        r = c.cmd(f"AUTH PLAIN {plain('alice@example.test', authzid='bob@example.test')}")
        self.assertReply(r, "5xx", what="AUTH PLAIN with a foreign authzid")
        self.assertReply(c.cmd("MAIL FROM:<bob@example.test>"), "530", "5.7.0")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "530", "5.7.0")

    def test_login_names_are_case_insensitive(self):
        c2 = self.session("submission")
        r = c2.cmd("AUTH PLAIN " + b64(f"\0ALICE@Example.TEST\0{PASSWORDS['alice@example.test']}"))
        self.assertReply(r, "235", "2.7.0", what="the address in another case")
        # The session belongs to the canonical user.
        self.assertReply(c2.cmd("MAIL FROM:<alice@example.test>"), "250")

    def test_utf8_user(self):
        c = self.session("submissions")
        self.assertReply(c.cmd("AUTH LOGIN " + b64("δοκιμή@example.test")), "334")
        self.assertReply(c.cmd(b64(PASSWORDS["δοκιμή@example.test"])), "235", "2.7.0")

    def test_failure_then_success_in_one_session(self):
        c = self.session("submission")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('alice@example.test', 'nope')}"), "535", "5.7.8")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('alice@example.test')}"), "235", "2.7.0")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), "250")

    # -- failures: 535 5.7.8, only after the delay ---------------------------------

    def test_wrong_password_plain(self):
        c = self.session("submission")
        r, elapsed = self.timed(c, f"AUTH PLAIN {plain('alice@example.test', 'wrong-password')}")
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK, "535 came before auth_failure_delay")
        self.assertNotAuthenticated(c)
        self.assertReply(c.cmd("NOOP"), "250")

    def test_wrong_password_plain_continuation(self):
        c = self.session("submissions")
        self.assertReply(c.cmd("AUTH PLAIN"), "334")
        r, elapsed = self.timed(c, plain("bob@example.test", "wrong-password"))
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK)
        self.assertNotAuthenticated(c, "bob@example.test")

    def test_wrong_password_login(self):
        c = self.session("submission")
        self.assertReply(c.cmd("AUTH LOGIN"), "334")
        self.assertReply(c.cmd(b64("alice@example.test")), "334")
        r, elapsed = self.timed(c, b64("wrong-password"))
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK)
        self.assertNotAuthenticated(c)

    def test_password_is_case_sensitive(self):
        c = self.session("submissions")
        r, elapsed = self.timed(c, f"AUTH PLAIN {plain('alice@example.test', PASSWORDS['alice@example.test'].upper())}")
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK)

    def test_empty_password(self):
        c = self.session("submissions")
        r = c.cmd(f"AUTH PLAIN {plain('alice@example.test', '')}")
        self.assertReply(r, "535|501", what="an empty password")
        self.assertNotAuthenticated(c)

    def test_unknown_user_delayed_like_a_wrong_password(self):
        c = self.session("submission")
        r, elapsed = self.timed(c, f"AUTH PLAIN {plain('nobody@example.test', 'whatever')}")
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK)
        c2 = self.session("submission")
        r, elapsed = self.timed(c2, f"AUTH PLAIN {plain('someone@unhosted.test', 'whatever')}")
        self.assertReply(r, "535", "5.7.8")
        self.assertGreaterEqual(elapsed, DELAY - SLACK)

    def test_other_users_password_is_wrong(self):
        c = self.session("submission")
        r = c.cmd("AUTH PLAIN " + b64(f"\0alice@example.test\0{PASSWORDS['bob@example.test']}"))
        self.assertReply(r, "535", "5.7.8")
        self.assertNotAuthenticated(c)

    def test_failures_in_parallel_sessions_do_not_serialise(self):
        # Four failures at once on four sessions: each waits its own delay,
        # concurrently (a timer, not a sleep that blocks others). For a name
        # nobody else fails (an unknown one costs the same): earlier failures
        # of an account delay its later attempts (issue 11, item 30).
        clients = [self.session("submissions") for _ in range(4)]
        start = time.monotonic()
        for c in clients:
            c.send(f"AUTH PLAIN {plain('parallel@example.test', 'wrong')}\r\n")
        for c in clients:
            self.assertReply(c.reply(), "535", "5.7.8")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, DELAY - SLACK)
        self.assertLess(elapsed, 2 * DELAY + 0.5, "failure delays of separate sessions added up")

    # -- the log ------------------------------------------------------------------

    def test_failure_logged_with_user_and_peer_never_password(self):
        secrets = {"PLAIN": "S3cret-Plain-Guess-4711", "LOGIN": "S3cret-Login-Guess-0815"}
        sources = {}
        before = len(self.daemon.smtpd.log())
        # PLAIN with an initial response
        source = sources["PLAIN"] = fresh_source()
        c = self.session("submission", source=source)
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('carol@example.org', secrets['PLAIN'])}"), "535")
        # LOGIN with two continuations
        source = sources["LOGIN"] = fresh_source()
        c = self.session("submissions", source=source)
        self.assertReply(c.cmd("AUTH LOGIN"), "334")
        self.assertReply(c.cmd(b64("bob@example.test")), "334")
        self.assertReply(c.cmd(b64(secrets["LOGIN"])), "535")
        users = {"PLAIN": "carol@example.org", "LOGIN": "bob@example.test"}

        def logged():
            new = self.daemon.smtpd.log()[before:]
            return all(any(sources[m] in line and users[m] in line for line in new.splitlines()) for m in users)
        self.wait_for(logged, timeout=10, what="a log line per failed AUTH")
        new = self.daemon.smtpd.log()[before:]
        for mechanism, user in users.items():
            lines = [line for line in new.splitlines() if sources[mechanism] in line and user in line]
            self.assertTrue(any(re.search(r"fail|invalid|denied|refused|bad", line, re.I) for line in lines),
                            f"no failure line for {mechanism} naming {user} and [{sources[mechanism]}]:\n{new}")
        whole = self.daemon.smtpd.log()
        for mechanism, secret in secrets.items():
            self.assertNotIn(secret, whole, f"{mechanism} password in the log")
            self.assertNotIn(b64(secret), whole, f"{mechanism} password (base64) in the log")
        self.assertNotIn(plain("carol@example.org", secrets["PLAIN"]), whole, "AUTH PLAIN response in the log")

    def test_successful_passwords_never_logged(self):
        for user in PASSWORDS:
            c = self.session("submissions")
            self.assertReply(c.cmd(f"AUTH PLAIN {plain(user)}"), "235")
            c2 = self.session("submission")
            self.assertReply(c2.cmd("AUTH LOGIN " + b64(user)), "334")
            self.assertReply(c2.cmd(b64(PASSWORDS[user])), "235")
            for x in (c, c2):
                self.assertReply(x.cmd("QUIT"), "221")
                x.wait_closed(5)
        time.sleep(0.2)
        log = self.daemon.smtpd.log()
        for user, secret in PASSWORDS.items():
            self.assertNotIn(secret, log, f"{user}'s password in the log")
            self.assertNotIn(b64(secret), log, f"{user}'s password (base64) in the log")
            self.assertNotIn(plain(user), log, f"{user}'s AUTH PLAIN response in the log")

    # -- metrics ------------------------------------------------------------------

    def test_auth_attempt_counters(self):
        name = "aviary_smtpd_auth_attempts_total"
        before = self.daemon.metrics()
        c = self.session("submission")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('alice@example.test')}"), "235")
        c = self.session("submissions")
        self.assertReply(c.cmd("AUTH LOGIN " + b64("bob@example.test")), "334")
        self.assertReply(c.cmd(b64(PASSWORDS["bob@example.test"])), "235")
        c = self.session("submissions")
        self.assertReply(c.cmd(f"AUTH PLAIN {plain('alice@example.test', 'bad')}"), "535")
        after = self.daemon.metrics()
        self.assertEqual(metric(after, name, result="success") - metric(before, name, result="success"), 2)
        self.assertEqual(metric(after, name, result="failure") - metric(before, name, result="failure"), 1)
        self.assertEqual(metric(after, name, result="throttled") - metric(before, name, result="throttled"), 0)
        results = {dict(labels).get("result") for (n, labels) in after if n == name}
        self.assertLessEqual(results, {"success", "failure", "throttled"}, results)


if __name__ == "__main__":
    unittest.main()
