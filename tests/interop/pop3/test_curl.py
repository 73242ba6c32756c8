"""test_curl.py - curl's pop3:// (with STLS, --ssl-reqd) and pop3s:// fetch
what swaks sent through aviary-smtpd; curl's SASL PLAIN with and without an
initial response; LIST, UIDL and DELE through curl; curl refuses to send a
password in the clear when the server does not offer login before TLS.
"""

import time
import unittest

from aviary_test.interop_case import InteropTestCase

USER_TIMEOUT = ["--max-time", "30", "--connect-timeout", "10"]


class CurlTest(InteropTestCase):

    def curl(self, url, user, pw, *extra, check=True):
        curl = self.need("curl")
        return self.run_client([curl, "-sS", *USER_TIMEOUT, "--cacert", str(self.host.cert),
                                "-u", f"{user}:{pw}", *extra, url], check=check)

    def url(self, scheme, path=""):
        port = self.host.pop3_port if scheme == "pop3" else self.host.pop3s_port
        return f"{scheme}://127.0.0.1:{port}/{path}"

    def test_pop3_stls_retr(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "curl-stls")
        r = self.curl(self.url("pop3", "1"), user, pw, "--ssl-reqd")
        self.assertSameMessage(r.stdout, sent)
        self.assertEqual(r.stdout, self.host.messages(user)[0], "curl got other bytes than stored")

    def test_pop3s_retr(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "curl-pop3s")
        r = self.curl(self.url("pop3s", "1"), user, pw)
        self.assertSameMessage(r.stdout, sent)

    def test_sasl_initial_response(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "curl-sasl-ir")
        r = self.curl(self.url("pop3s", "1"), user, pw, "--sasl-ir", "--login-options", "AUTH=PLAIN", "-v")
        self.assertSameMessage(r.stdout, sent)
        self.assertRegex(r.stderr.decode(errors="replace"), r"> AUTH PLAIN \S+",
                         "curl did not use AUTH PLAIN with an initial response")

    def test_sasl_continuation(self):
        user, pw = self.new_user()
        sent = self.swaks_send(user, "curl-sasl")
        r = self.curl(self.url("pop3s", "1"), user, pw, "--login-options", "AUTH=PLAIN", "-v")
        self.assertSameMessage(r.stdout, sent)
        self.assertRegex(r.stderr.decode(errors="replace"), r"> AUTH PLAIN\r?\n",
                         "curl did not use AUTH PLAIN with a continuation")

    def test_list_uidl_dele(self):
        user, pw = self.new_user()
        self.swaks_send(user, "curl-list-1")
        self.swaks_send(user, "curl-list-2")
        stored = self.host.messages(user)
        listing = self.curl(self.url("pop3s"), user, pw).stdout.decode()
        self.assertEqual(listing.replace("\r\n", "\n").split("\n")[:-1],
                         [f"{i + 1} {len(m)}" for i, m in enumerate(stored)])
        uidl = self.curl(self.url("pop3s"), user, pw, "-X", "UIDL").stdout.decode()
        self.assertRegex(uidl.replace("\r\n", "\n"), r"^1 [\x21-\x7e]+\n2 [\x21-\x7e]+\n$")
        self.curl(self.url("pop3s", "1"), user, pw, "-X", "DELE", "-I")
        self.wait_mailbox_count(user, 1)
        self.assertEqual(self.host.messages(user), stored[1:], "curl's DELE 1 removed another message")

    def test_wrong_password(self):
        user, pw = self.new_user()
        self.swaks_send(user, "curl-wrong")
        r = self.curl(self.url("pop3s", "1"), user, pw + "x", check=False)
        self.assertEqual(r.returncode, 67, f"curl exit {r.returncode} (67 = login denied): {r.stderr!r}")
        self.assertEqual(r.stdout, b"")

    def test_no_login_in_the_clear(self):
        """Without TLS the server offers no login: curl cannot log in, and
        the password never crosses the wire in the clear."""
        user, pw = self.new_user()
        self.swaks_send(user, "curl-clear")
        r = self.curl(self.url("pop3", "1"), user, pw, "-v", check=False)
        self.assertNotEqual(r.returncode, 0, "curl logged in without TLS")
        self.assertEqual(r.stdout, b"", "curl retrieved the message without TLS")
        self.assertNotIn(f"login user={user}", self.host.pop3d.log())

    def wait_mailbox_count(self, user, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.host.messages(user)) != n:
            if time.monotonic() > deadline:
                self.fail(f"{user} has {len(self.host.messages(user))} messages, expected {n}")
            time.sleep(0.1)


if __name__ == "__main__":
    unittest.main()
