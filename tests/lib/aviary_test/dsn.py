"""Delivery status notifications (RFC 3464, RFC 6522), taken apart with
Python's email package."""

import email
import email.policy
import re


class Report:
    """A parsed bounce: message (email.message.Message), recipients (list of
    per-recipient field dicts, lowercase keys), per_message (dict), text
    (the human-readable part), original (bytes of the returned message or
    headers), original_type."""

    def __init__(self, raw):
        self.raw = raw
        self.message = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.recipients = []
        self.per_message = {}
        self.text = None
        self.original = None
        self.original_type = None
        self.status_parts = 0
        if not self.message.is_multipart():
            return
        for part in self.message.get_payload():
            ctype = part.get_content_type()
            if ctype == "message/delivery-status":
                self.status_parts += 1
                blocks = part.get_payload()
                if isinstance(blocks, str):  # not split by the parser: do it here
                    blocks = [email.message_from_string(b.strip() + "\n")
                              for b in re.split(r"\r?\n\r?\n", blocks) if b.strip()]
                for i, block in enumerate(blocks):
                    fields = {k.lower(): re.sub(r"\s+", " ", str(v)).strip() for k, v in block.items()}
                    if i == 0:
                        self.per_message = fields
                    else:
                        self.recipients.append(fields)
            elif ctype in ("message/rfc822", "text/rfc822-headers", "message/global",
                           "message/global-headers") and self.original is None:
                self.original_type = ctype
                payload = part.get_payload()
                if isinstance(payload, list):
                    self.original = payload[0].as_bytes()
                else:
                    self.original = part.get_payload(decode=True) or payload.encode("utf-8", "replace")
            elif ctype == "text/plain" and self.text is None:
                self.text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")

    @property
    def content_type(self):
        return self.message.get_content_type()

    @property
    def report_type(self):
        return self.message.get_param("report-type")

    def recipient(self, address):
        """The per-recipient block whose Final-Recipient names address, or None."""
        for r in self.recipients:
            final = r.get("final-recipient", "")
            if final.split(";", 1)[-1].strip().strip("<>").lower() == address.lower():
                return r
        return None

