"""SASL responses as both daemons take them (RFC 4616 PLAIN, LOGIN)."""

import base64


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def plain_token(user, password, authzid=""):
    """The AUTH PLAIN response: authzid NUL user NUL password, base64."""
    return b64(f"{authzid}\0{user}\0{password}")
