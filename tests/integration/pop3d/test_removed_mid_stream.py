"""test_removed_mid_stream.py - a message removed while RETR or TOP streams it
(issue 11, item 6): the client sees the connection closed, never a message
cut short without its final "." and then the replies to later commands read
as message text.

The client sends RETR (or TOP) and a NOOP pipelined, with a small receive
buffer, and reads nothing until the daemon is blocked on the full socket
with most of the 16 MiB message still to send; then `aviaryctl user del`
removes the user and all their mail (a real second process), and the client
reads to the end.
"""

import socket
import time
import unittest

from aviary_test.pop3_case import Pop3TestCase
from aviary_test.smtp import ConnectionClosed

SIZE = 16 * 1024 * 1024


def big_message(subject):
    line = b"x" * 78 + b"\r\n"
    head = f"From: <big@remote.test>\r\nTo: <rcpt@example.test>\r\nSubject: {subject}\r\n\r\n".encode()
    return head + line * (SIZE // len(line))


class RemovedMidStreamTest(Pop3TestCase):

    smtpd_options = {"max_message_size": "40MiB"}
    pop3d_options = {"allow_plaintext_auth": True}

    def removed_while_streaming(self, command):
        user, pw = self.new_user()
        self.host.deliver(user, big_message(command))
        c = self.session(user, pw)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(f"{command}\r\nNOOP\r\n")
        time.sleep(1.0)  # the daemon fills the socket and waits for the client to read
        self.host.ctl("user", "del", user)

        received = bytearray()
        closed = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c._fill(min(5.0, deadline - time.monotonic()))  # 5 s of silence: it stays open
            except (ConnectionClosed, ConnectionResetError):
                closed = True
                break
            except socket.timeout:
                break
            received += c.buf
            c.buf.clear()
        self.assertTrue(closed, f"{command} of a removed message: the connection stays open "
                                f"({len(received)} bytes, ending {bytes(received[-40:])!r})")
        self.assertTrue(received.startswith(b"+OK"), f"no +OK before the message: {bytes(received[:40])!r}")
        self.assertLess(len(received), SIZE, "the whole message was sent: the test did not remove it in time")
        # A stuffed message never contains CRLF "." CRLF: that would be the end.
        self.assertNotIn(b"\r\n.\r\n", received, "a terminator after a message cut short")
        self.assertNotIn(b"\r\n+OK", received, "a later reply inside the message text")
        self.assertDaemonAlive(settle=0.2)
        self.assertIn("removed while being sent", self.host.pop3d.log())
        # The daemon serves others as before.
        other, other_pw, _ = self.mailbox_with(1)
        d = self.session(other, other_pw)
        self.assertEqual(d.stat()[0], 1)
        d.quit()

    def test_retr(self):
        self.removed_while_streaming("RETR 1")

    def test_top(self):
        self.removed_while_streaming("TOP 1 1000000")


if __name__ == "__main__":
    unittest.main()
