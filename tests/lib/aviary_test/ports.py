"""Ports, loopback networks and client source addresses."""

import itertools
import os
import random
import socket

IS_ROOT = os.geteuid() == 0


def can_bind(address, port, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


_handed_out = set()


def free_port(addresses=("127.0.0.1",), udp=False):
    """A port nobody listens on right now on every address (TCP, and UDP too
    if asked), never the same one twice in this process: nothing is bound
    between the choice and the daemon's start.

    Picked at random below the kernel's ephemeral range (32768-60999): a port
    from bind(0) comes from that range, where every parallel test picks its
    own the same way, and two of them may be handed the same free port before
    either daemon has bound it."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(20000, 32000)
        if port in _handed_out:
            continue
        if all(can_bind(a, port) and (not udp or can_bind(a, port, socket.SOCK_DGRAM)) for a in addresses):
            _handed_out.add(port)
            return port
    raise AssertionError(f"no free port on {addresses} in 20000-32000")


class Net:
    """Loopback addresses 127.X.Y.1-254 of one test and its MX port.

    .2 and .3 are the Aviary hosts by convention, .4 and .5 scripted servers,
    .6 an address where nothing listens."""

    def __init__(self):
        rng = random.SystemRandom()
        # 127.0.x.y is left to the client source addresses below.
        self.prefix = f"127.{rng.randint(16, 250)}.{rng.randint(1, 254)}"
        everyone = [self.ip(n) for n in range(2, 8)]
        if IS_ROOT and all(can_bind(a, 25) for a in everyone):
            self.smtp_port = 25
        else:
            self.smtp_port = free_port(everyone)

    def ip(self, n):
        return f"{self.prefix}.{n}"


# Readiness probes and the setup's own deliveries connect from these, so
# that they never count against the per-IP limits of the addresses the
# tests use (and the greeting probes never against the others).
PROBE_SOURCE = "127.0.0.254"
SETUP_SOURCE = "127.0.0.253"

_sources = (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())


def fresh_source():
    """A fresh loopback source address (127.0.1.1, 127.0.1.2, ...), so that
    per-IP limits and failure counts never leak from one test into another."""
    return next(_sources)


def slow_reader_socket(port):
    """A socket connected to 127.0.0.1:port that takes replies slowly: a
    small window and small segments, set before connect, so that the
    daemon's kernel send buffer stays small too (Linux sizes it from the
    MSS) and what the daemon queues beyond it shows in its memory."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock
