"""Self-signed certificates for the daemons, and client TLS contexts."""

import ssl
import subprocess
from pathlib import Path

HOSTNAME = "mail.example.test"


def make_certificate(directory, hostname=HOSTNAME, ip="127.0.0.1", key_type="ec", stem=""):
    """A self-signed certificate valid for hostname, localhost and ip, so
    that every client can verify it; returns (cert, key) paths.
    key_type "rsa" for an RSA-2048 key (suites that need RSA key exchange)."""
    cert = Path(directory) / f"{stem}cert.pem"
    key = Path(directory) / f"{stem}key.pem"
    newkey = ["-newkey", "rsa:2048"] if key_type == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    subprocess.run(
        ["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={hostname}",
         "-addext", f"subjectAltName=DNS:{hostname},DNS:localhost,IP:{ip}",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return cert, key


def tls_context(cafile):
    """A client context that verifies the daemon's certificate."""
    return ssl.create_default_context(cafile=str(cafile))


def any_certificate():
    """A client context that accepts any certificate (tests that compare
    certificates, or offer cipher suites a verifying client would not)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
