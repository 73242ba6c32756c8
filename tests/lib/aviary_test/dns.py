"""A private dnsmasq for the relay tests: MX, A and null MX records of the
test's own domains, on 127.0.0.1:<free port>; the Aviary hosts ask it
through relay.dns = "127.0.0.1:PORT"."""

import os
import random
import socket
import struct
import time
from pathlib import Path

from aviary_test.ports import IS_ROOT, free_port
from aviary_test.processes import Proc

DNSMASQ = "/usr/sbin/dnsmasq"
WAIT = 20.0  # seconds dnsmasq may take to answer


def dns_query(server, port, name, qtype, timeout=2.0):
    """(rcode, answer count) of one UDP query; raises on timeout."""
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, port))
        data, _ = s.recvfrom(4096)
    rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        raise AssertionError("DNS reply with another id")
    return flags & 0xF, an


class Dnsmasq:
    """A private dnsmasq answering only from its own records (--local=/test/:
    names it does not know are NXDOMAIN, types it does not have are NODATA)."""

    MX, A = 15, 1

    def __init__(self, directory, zones=("test",)):
        self.dir = Path(directory)
        self.port = free_port(udp=True)
        self.zones = zones
        self.records = []
        self.proc = None

    def mx(self, domain, host, preference):
        self.records.append(f"--mx-host={domain},{host},{preference}")

    def a(self, host, ip):
        self.records.append(f"--host-record={host},{ip}")

    def null_mx(self, domain):
        # RFC 7505: one MX with preference 0 and the root as exchange.
        # RDATA = 16-bit preference 0 + the root name (one zero octet).
        self.records.append(f"--dns-rr={domain},15,000000")

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        if not os.path.exists(DNSMASQ):
            raise AssertionError(f"{DNSMASQ} is not installed (Debian package dnsmasq-base)")
        argv = [DNSMASQ, "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--keep-in-foreground",
                "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={self.port}",
                "--pid-file=", "--log-facility=-", "--log-queries", "--cache-size=0"]
        argv += [f"--local=/{z}/" for z in self.zones]
        if IS_ROOT:
            argv += ["--user=root", "--group=root"]  # no privilege drop to a user that may not exist
        argv += self.records
        self.proc = Proc("dnsmasq", argv, self.dir / "dnsmasq.log")
        self.proc.start()
        deadline = time.monotonic() + WAIT
        last = None
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise AssertionError(f"dnsmasq exited {self.proc.proc.returncode}:\n{self.proc.log_tail()}")
            try:
                dns_query("127.0.0.1", self.port, "readiness.probe.test", self.A, timeout=0.5)
                return
            except (OSError, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"dnsmasq not answering within {WAIT}s ({last!r}):\n{self.proc.log_tail()}")

    def stop(self):
        if self.proc:
            self.proc.stop(5)

