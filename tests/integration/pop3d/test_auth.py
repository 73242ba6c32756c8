"""test_auth.py - logging in: USER/PASS, AUTH PLAIN (RFC 5034), the
plaintext policy, the failure delay, throttling per client address,
password hashing off the I/O threads, and logs without passwords.

Response codes: RFC 2449 (IN-USE), RFC 3206 (AUTH, SYS/TEMP).
"""

import base64
import os
import re
import time
import unittest

from aviary_test.pop3 import Pop3Client, Response
from aviary_test.pop3_case import Pop3TestCase
from aviary_test.sasl import plain_token

DELAY = 1.0  # auth_failure_delay of these fixtures, seconds


def login_caps(caps):
    return "USER" in caps, "SASL" in caps and "PLAIN" in [m.upper() for m in caps["SASL"]]


class PlaintextRefusedTest(Pop3TestCase):
    """allow_plaintext_auth = false: no login before TLS on the plain port."""

    pop3d_options = {"allow_plaintext_auth": False, "max_errors": 100}

    def test_capa_before_tls(self):
        caps = self.pop3().capabilities()
        self.assertIn("STLS", caps)
        self.assertEqual(login_caps(caps), (False, False), f"login offered before TLS: {caps}")
        for wanted in ("RESP-CODES", "AUTH-RESP-CODE"):
            self.assertIn(wanted, caps)

    def test_login_refused_before_tls(self):
        user, pw = self.new_user()
        c = self.pop3()
        self.assertErr(c.cmd(f"USER {user}"), "AUTH", "USER before TLS")
        self.assertErr(c.cmd(f"PASS {pw}"), "AUTH", "PASS before TLS")
        self.assertErr(c.cmd(f"AUTH PLAIN {plain_token(user, pw)}"), "AUTH", "AUTH PLAIN before TLS")
        c.send("AUTH PLAIN\r\n")
        line = c.read_line()
        self.assertFalse(line.startswith(b"+"), f"AUTH PLAIN continuation offered before TLS: {line!r}")
        self.assertErr(Response(line), "AUTH", "AUTH PLAIN (no initial response) before TLS")
        self.assertErr(c.cmd("STAT"), what="STAT: not logged in")
        self.assertOk(c.cmd("CAPA"), "the session after the refused logins")
        c.multiline()

    def test_capa_after_stls(self):
        c = self.pop3()
        c.stls(self.host.tls_context())
        caps = c.capabilities()
        self.assertEqual(login_caps(caps), (True, True), f"login not offered after STLS: {caps}")
        self.assertNotIn("STLS", caps, "STLS offered after STLS")
        self.assertErr(c.cmd("STLS"), what="a second STLS")

    def test_capa_pop3s(self):
        c = self.pop3s()
        caps = c.capabilities()
        self.assertEqual(login_caps(caps), (True, True), f"login not offered on POP3S: {caps}")
        self.assertNotIn("STLS", caps, "STLS offered on the implicit-TLS port")
        self.assertErr(c.cmd("STLS"), what="STLS on the implicit-TLS port")

    def test_user_pass_after_stls(self):
        user, pw = self.new_user()
        c = self.pop3()
        c.stls(self.host.tls_context())
        self.assertOk(c.cmd(f"USER {user}"), "USER")
        self.assertOk(c.cmd(f"PASS {pw}"), "PASS")
        self.assertEqual(c.stat(), (0, 0))
        c.quit()

    def test_user_pass_on_pop3s(self):
        user, pw = self.new_user()
        c = self.pop3s()
        self.assertOk(c.user_pass(user, pw))
        self.assertEqual(c.stat(), (0, 0))
        c.quit()

    def test_auth_plain_initial_response(self):
        user, pw = self.new_user()
        self.host.deliver(user, b"Subject: x\r\n\r\nx\r\n")
        c = self.pop3s()
        self.assertOk(c.auth_plain(user, pw, initial=True), "AUTH PLAIN with initial response")
        self.assertEqual(c.stat()[0], 1)
        c.quit()

    def test_auth_plain_continuation(self):
        user, pw = self.new_user()
        c = self.pop3()
        c.stls(self.host.tls_context())
        c.send("AUTH PLAIN\r\n")
        line = c.read_line()
        self.assertRegex(line, rb"^\+ ?\r\n$|^\+ [A-Za-z0-9+/=]*\r\n$", "continuation line '+ '")
        self.assertOk(c.cmd(plain_token(user, pw)), "AUTH PLAIN after the continuation")
        self.assertEqual(c.stat(), (0, 0))
        c.quit()

    def test_auth_plain_cancel(self):
        user, pw = self.new_user()
        c = self.pop3s()
        c.send("AUTH PLAIN\r\n")
        self.assertTrue(c.read_line().startswith(b"+"))
        self.assertErr(c.cmd("*"), what="'*' cancels the exchange")
        self.assertErr(c.cmd("STAT"), what="not logged in after the cancel")
        self.assertOk(c.auth_plain(user, pw), "a new AUTH after the cancel")

    def test_auth_plain_bad_input(self):
        user, pw = self.new_user()
        c = self.pop3s()
        self.assertErr(c.cmd("AUTH PLAIN !!!notbase64!!!"), what="invalid base64")
        self.assertErr(c.cmd("AUTH PLAIN " + base64.b64encode(b"no-nul-separators").decode()),
                       what="no NUL separators")
        self.assertErr(c.cmd("AUTH CRAM-MD5"), what="unknown mechanism")
        self.assertErr(c.cmd("AUTH XYZZY dGVzdA=="), what="unknown mechanism")
        other, _ = self.new_user()
        self.assertErr(c.auth_plain(user, pw, authzid=other), what="authzid of another user")
        self.assertErr(c.cmd("STAT"), what="not logged in")
        self.assertOk(c.auth_plain(user, pw), "AUTH PLAIN after the errors")

    def test_auth_plain_wrong_password(self):
        user, pw = self.new_user()
        c = self.pop3s()
        t0 = time.monotonic()
        self.assertErr(c.auth_plain(user, pw + "x"), "AUTH", "AUTH PLAIN, wrong password")
        self.assertGreaterEqual(time.monotonic() - t0, DELAY * 0.9, "no delay after a failed AUTH")
        self.assertErr(c.cmd("STAT"), what="not logged in")

    def test_wrong_password(self):
        user, pw = self.new_user()
        c = self.pop3s()
        self.assertOk(c.cmd(f"USER {user}"))
        t0 = time.monotonic()
        r = c.cmd(f"PASS {pw}-wrong")
        elapsed = time.monotonic() - t0
        self.assertErr(r, "AUTH", "wrong password")
        self.assertGreaterEqual(elapsed, DELAY * 0.9, "no delay before -ERR [AUTH]")
        self.assertErr(c.cmd("STAT"), what="STAT after a failed login")
        # back in AUTHORIZATION state: a new USER/PASS works
        t0 = time.monotonic()
        self.assertOk(c.user_pass(user, pw), "login after a failed one")
        self.assertLess(time.monotonic() - t0, DELAY * 0.9, "a correct password was delayed")
        c.quit()

    def test_unknown_user_same_answer(self):
        c = self.pop3s()
        r = c.cmd("USER nobody@example.test")
        self.assertOk(r, "USER of an unknown user (no user enumeration)")
        t0 = time.monotonic()
        self.assertErr(c.cmd("PASS whatever"), "AUTH", "unknown user")
        self.assertGreaterEqual(time.monotonic() - t0, DELAY * 0.9, "no delay for an unknown user")
        r2 = c.user_pass("nobody@unhosted.test", "x")
        self.assertErr(r2, "AUTH", "a user of a domain not hosted here")

    def test_full_address_required(self):
        user, pw = self.new_user()
        c = self.pop3s()
        self.assertErr(c.user_pass(user.split("@")[0], pw), "AUTH", "login with the local part only")
        self.assertOk(c.user_pass(user, pw))

    def test_password_with_spaces(self):
        """RFC 1939: PASS takes the rest of the line (spaces included)."""
        user, pw = self.new_user(password="pass with  spaces")
        c = self.pop3s()
        self.assertOk(c.user_pass(user, pw), "PASS with spaces")
        c.quit()


class PlaintextAllowedTest(Pop3TestCase):
    """allow_plaintext_auth = true: login on the plain port before TLS."""

    pop3d_options = {"allow_plaintext_auth": True}

    def test_capa(self):
        caps = self.pop3().capabilities()
        self.assertEqual(login_caps(caps), (True, True), f"login not offered: {caps}")
        self.assertIn("STLS", caps, "STLS must still be offered")

    def test_user_pass_plain(self):
        user, pw = self.new_user()
        self.host.deliver(user, b"Subject: plain\r\n\r\nplain\r\n")
        c = self.pop3()
        self.assertOk(c.user_pass(user, pw))
        self.assertEqual(c.stat()[0], 1)
        c.quit()

    def test_auth_plain_plain(self):
        user, pw = self.new_user()
        c = self.pop3()
        self.assertOk(c.auth_plain(user, pw))
        self.assertOk(c.cmd("NOOP"))
        c.quit()

    def test_stls_still_works(self):
        user, pw = self.new_user()
        c = self.pop3()
        c.stls(self.host.tls_context())
        self.assertOk(c.user_pass(user, pw))
        c.quit()


class NoTlsTest(Pop3TestCase):
    """No [tls] section: no STLS, no POP3S; plaintext login allowed by config."""

    tls = False
    pop3d_options = {"allow_plaintext_auth": True}

    def test_no_stls(self):
        c = self.pop3()
        caps = c.capabilities()
        self.assertNotIn("STLS", caps, "STLS offered without a certificate")
        self.assertEqual(login_caps(caps), (True, True))
        self.assertErr(c.cmd("STLS"), what="STLS without a certificate")
        user, pw = self.new_user()
        self.assertOk(c.user_pass(user, pw), "login after the refused STLS")
        c.quit()


class ThrottleTest(Pop3TestCase):
    """max_auth_failures = 3 per client address: then [SYS/TEMP], unchecked."""

    pop3d_options = {"max_auth_failures": 3, "allow_plaintext_auth": True}

    def fail_login(self, user, ip):
        c = Pop3Client(self.host.pop3_port, source=ip)
        self.addCleanup(c.close)
        r = c.user_pass(user, "definitely-wrong")
        c.close()
        return r

    def test_throttled_after_failures(self):
        user, pw = self.new_user()
        for i in range(3):  # one failure per connection: counted per address
            self.assertErr(self.fail_login(user, self.ip), "AUTH", f"failure {i + 1}")
        c = self.pop3()
        r = c.user_pass(user, pw)
        self.assertErr(r, "SYS/TEMP", "a correct login after max_auth_failures failures")
        self.assertErr(c.auth_plain(user, pw), "SYS/TEMP", "AUTH PLAIN while throttled")
        self.assertErr(c.cmd("STAT"), what="not logged in while throttled")
        # another client address is not affected
        other = Pop3Client(self.host.pop3_port, source="127.0.0.200")
        self.addCleanup(other.close)
        self.assertOk(other.user_pass(user, pw), "login from another address")
        other.quit()

    def test_failures_of_other_addresses_do_not_count(self):
        user, pw = self.new_user()
        for i, ip in enumerate(("127.0.0.201", "127.0.0.202", "127.0.0.203", "127.0.0.204")):
            self.assertErr(self.fail_login(user, ip), "AUTH", f"failure from {ip}")
        c = self.pop3()
        self.assertOk(c.user_pass(user, pw), "login from an address without failures")
        c.quit()

    def test_below_limit_still_works(self):
        user, pw = self.new_user()
        for i in range(2):
            self.assertErr(self.fail_login(user, self.ip), "AUTH")
        c = self.pop3()
        self.assertOk(c.user_pass(user, pw), "login after max_auth_failures - 1 failures")
        c.quit()


EXPENSIVE = ('memory = "64MiB"', "iterations = 3")


class WorkerPoolTest(Pop3TestCase):
    """io_threads = 1: Argon2 verification and the failure delay must not
    run on (or block) the only I/O thread."""

    pop3d_options = {"io_threads": 1, "allow_plaintext_auth": True}

    @classmethod
    def populate(cls, h):
        super().populate(h)
        # users whose hashes are expensive (the PHC string carries the cost)
        expensive = h.dir / "expensive.toml"
        text = h.config_text().replace('memory = "1MiB"', EXPENSIVE[0]).replace("iterations = 1", EXPENSIVE[1])
        expensive.write_text(text)
        for i in range(5):
            h.add_user(f"slow{i}@example.test", f"slow-password-{i}", config=expensive)

    def probe_latency(self, probe):
        t0 = time.monotonic()
        self.assertOk(probe.cmd("NOOP"))
        return time.monotonic() - t0

    def test_hashing_off_the_io_thread(self):
        # the cost of one verification, measured alone
        c = self.pop3()
        self.assertOk(c.cmd("USER slow0@example.test"))
        t0 = time.monotonic()
        self.assertOk(c.cmd("PASS slow-password-0"))
        single = time.monotonic() - t0
        c.quit()
        self.assertGreater(single, 0.05, "the expensive hash is not expensive; the test cannot judge")

        probe = self.pop3(source="127.0.0.210")
        self.assertOk(probe.user_pass("slow4@example.test", "slow-password-4"))
        sessions = []
        for i in (1, 2, 3):
            s = self.pop3(source=f"127.0.0.{211 + i}")
            self.assertOk(s.cmd(f"USER slow{i}@example.test"))
            sessions.append(s)
        for i, s in enumerate(sessions, start=1):
            s.send(f"PASS slow-password-{i}\r\n")
        latencies = []
        deadline = time.monotonic() + single * 0.8
        while time.monotonic() < deadline:
            latencies.append(self.probe_latency(probe))
            time.sleep(0.01)
        for s in sessions:
            self.assertOk(s.response(timeout=60), "the slow logins")
        worst = max(latencies)
        if os.environ.get("AVIARY_TEST_DEBUG"):
            print(f"\none hash {single:.3f}s; NOOP latencies {[round(l, 4) for l in latencies]}")
        # Inline hashing would hold a NOOP for at least one whole hash; a
        # loaded CI machine adds scheduling noise well below that.
        self.assertLess(worst, single * 0.6,
                        f"NOOP on another session took {worst:.3f}s while 3 logins hashed "
                        f"(one hash alone takes {single:.3f}s): hashing blocks the I/O thread")

    def test_failure_delay_does_not_block(self):
        user, pw = self.new_user()
        probe = self.pop3(source="127.0.0.220")
        self.assertOk(probe.user_pass(user, pw))
        c = self.pop3()
        self.assertOk(c.cmd(f"USER {user}"))
        c.send("PASS wrong-password\r\n")
        time.sleep(0.1)
        latencies = []
        for _ in range(5):
            latencies.append(self.probe_latency(probe))
            time.sleep(0.05)
        self.assertErr(c.response(timeout=10), "AUTH")
        self.assertLess(max(latencies), 0.6, f"NOOP latencies during a failure delay: {latencies}")


class LogTest(Pop3TestCase):
    """SPEC.md Logs: session open/close with the peer address, each auth
    failure; never a password."""

    pop3d_options = {"allow_plaintext_auth": True}

    def test_no_passwords_and_failures_logged(self):
        user, _ = self.host.add_user("logcheck@example.test", "Corr3ct-H0rse-Batt3ry")
        wrong = "Wr0ng-Passw0rd-Sentinel"
        c = self.pop3()
        self.assertErr(c.user_pass(user, wrong), "AUTH")
        self.assertErr(c.auth_plain(user, wrong + "2"), "AUTH")
        self.assertOk(c.user_pass(user, "Corr3ct-H0rse-Batt3ry"))
        c.quit()
        c2 = self.pop3()
        self.assertOk(c2.auth_plain(user, "Corr3ct-H0rse-Batt3ry"))
        c2.quit()
        self.assertClosed(c2)
        time.sleep(0.5)  # let the close be logged
        log = self.host.pop3d.log()
        for secret in ("Corr3ct-H0rse-Batt3ry", wrong, wrong + "2", plain_token(user, wrong + "2"),
                       plain_token(user, "Corr3ct-H0rse-Batt3ry")):
            self.assertNotIn(secret, log, "a password (or its AUTH PLAIN token) in the log")
        lines = [l for l in log.splitlines() if self.ip in l]
        self.assertGreaterEqual(len(lines), 4, f"two sessions, each opened and closed, should give at "
                                               f"least 4 lines naming the peer {self.ip}:\n{log[-3000:]}")
        failures = [l for l in log.splitlines()
                    if re.search(r"auth|login|pass", l, re.I) and re.search(r"fail|denied|invalid|wrong|reject", l, re.I)]
        self.assertGreaterEqual(len(failures), 2, f"auth failures not logged:\n{log[-3000:]}")


if __name__ == "__main__":
    unittest.main()
