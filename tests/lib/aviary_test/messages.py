"""Small RFC 5322 messages to send, and the header fields of what was stored."""

import re

# What of a subject does not go into the Message-ID derived from it.
ID_UNSAFE = re.compile(r"[^\w.-]|_")


def message(subject, body="Hello.\r\n", sender="sender@remote.test", to="rcpt@example.test", extra=b"",
            date=None):
    """A small RFC 5322 message as bytes, CRLF line ends; extra is more
    header fields (bytes, each ending in CRLF) after the usual ones."""
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{ID_UNSAFE.sub('.', subject)}@remote.test>\r\n")
    if date:
        head += f"Date: {date}\r\n"
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head.encode("utf-8") + extra + b"\r\n" + body


def make_message(sender, to, subject, body="Hello from the relay tests.\r\n", extra_headers=b""):
    """A message as a client submits it: extra_headers first, then From, To,
    Subject, Message-ID (subject@client.example.net) and Date."""
    head = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@client.example.net>\r\n"
            f"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n").encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return extra_headers + head + b"\r\n" + body


def split_trace(stored):
    """Splits a stored message into its added header fields and the rest.

    Returns (fields, rest) where fields is a list of (name, unfolded value)
    of the leading Return-Path, Delivered-To and Received fields."""
    fields = []
    pos = 0
    wanted = ("return-path", "delivered-to", "received")
    while len(fields) < 3:
        end = stored.find(b"\r\n", pos)
        if end < 0:
            break
        # continuation lines (RFC 5322 folding)
        while stored[end + 2:end + 3] in (b" ", b"\t"):
            nxt = stored.find(b"\r\n", end + 2)
            if nxt < 0:
                break
            end = nxt
        raw = stored[pos:end].decode("utf-8", "replace")
        name, _, value = raw.partition(":")
        if name.lower() != wanted[len(fields)]:
            break
        fields.append((name, re.sub(r"\r\n[ \t]", " ", value).strip()))
        pos = end + 2
    return fields, stored[pos:]


def header_fields(message):
    """[(name, unfolded value)] of a message's header section (bytes in)."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    fields = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))
    return fields


def field_values(message, name):
    return [v for n, v in header_fields(message) if n.lower() == name.lower()]


def strip_leading_fields(data, names):
    """Removes the header fields at the very top whose names are in
    `names` (lowercase), with their folded continuation lines, until the
    first field that is not one of them."""
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return data[pos:]
        name = data[pos:end].split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        if b":" not in data[pos:end] or name not in names:
            return data[pos:]
        while data[end + 2:end + 3] in (b" ", b"\t"):
            nxt = data.find(b"\r\n", end + 2)
            if nxt < 0:
                return b""
            end = nxt
        pos = end + 2
