"""One client connection, plain then maybe TLS, with its own receive buffer:
what the SMTP and POP3 clients share."""

import socket
import ssl
import struct
import time

from aviary_test.certificates import HOSTNAME


class ConnectionClosed(Exception):
    pass


class Connection:
    """A socket to a daemon whose bytes a test reads exactly as sent."""

    recv_size = 65536
    # What wait_closed() takes for the server having closed the connection.
    closed_errors = (ConnectionResetError, BrokenPipeError, ssl.SSLError)
    # How the protocol says "go ahead with TLS" (for the failure message).
    tls_go_ahead = "the 220 to STARTTLS"
    error = AssertionError

    def __init__(self, port, host="127.0.0.1", timeout=15.0, source=None):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.tls = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else max(0.01, timeout))
        try:
            chunk = self.sock.recv(self.recv_size)
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            raise ConnectionClosed("the server closed the connection")
        self.buf += chunk

    def pending(self):
        """Bytes already received but not consumed."""
        return bytes(self.buf)

    def wait_closed(self, timeout=10.0):
        """True if the server closes within timeout (any unread data is kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except self.closed_errors:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def handshake(self, context, server_hostname=HOSTNAME):
        """The TLS handshake; nothing may have come in the clear before it."""
        if self.buf:
            raise self.error(f"plaintext bytes after {self.tls_go_ahead}: {bytes(self.buf)!r}")
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drops the connection with a TCP RST (no QUIT, no FIN handshake)."""
        try:
            raw = self.sock
            if isinstance(raw, ssl.SSLSocket):
                raw = socket.socket(fileno=raw.detach())
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        except OSError:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
