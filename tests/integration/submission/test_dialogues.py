"""test_dialogues.py - the replies of the submission listeners, as scripts.

Plays every dialogues/*.txt script (format in dialogues/README.txt) as one
subTest on a fresh connection from its own loopback address: EHLO offers,
AUTH before STARTTLS (538) and MAIL before AUTH (530), PLAIN and LOGIN with
and without initial responses, cancellation, bad base64, unknown mechanisms,
a second AUTH, no AUTH on port 25, implicit TLS, and where mail goes.
"""

import codecs
import re
import unittest
from pathlib import Path

from aviary_test.dialogue import DialoguePlayer, expand_repeats
from aviary_test.sasl import b64
from aviary_test.submission_case import SubmissionTestCase, password, plain

DIALOGUES = Path(__file__).resolve().parent / "dialogues"


class SubmissionDialogueTest(DialoguePlayer, SubmissionTestCase):

    default_listener = "submission"

    def expand(self, text):
        """The {...} macros of dialogues/README.txt."""
        text = re.sub(r"\{plain:([^}]+)\}", lambda m: plain(m.group(1)), text)
        text = re.sub(r"\{user:([^}]+)\}", lambda m: b64(m.group(1)), text)
        text = re.sub(r"\{pass:([^}]+)\}", lambda m: b64(password(m.group(1))), text)
        text = re.sub(r"\{b64:([^}]*)\}",
                      lambda m: b64(codecs.escape_decode(m.group(1).encode("utf-8"))[0]), text)
        return expand_repeats(text)

    def connect(self, listener):
        if listener == "submissions":
            c = self.submissions()
            # The greeting is read by submissions(); put it back for the script.
            return c, [c.greeting]
        c = self.mx() if listener == "smtp" else self.submission()
        return c, [c.greeting]

    def test_dialogues(self):
        files = sorted(p for p in DIALOGUES.glob("*.txt") if p.name != "README.txt")
        self.assertGreaterEqual(len(files), 14)
        for path in files:
            with self.subTest(dialogue=path.name):
                self.run_dialogue(path)


if __name__ == "__main__":
    unittest.main()
