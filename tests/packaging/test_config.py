"""test_config.py - packaging/aviary.toml, the /etc/aviary/aviary.toml the
package installs.

  - as shipped (only storage.path moved to a temporary directory, and a
    hostname, which the file leaves to the system), the real configuration
    loader accepts it: aviaryctl starts with it and opens the store;
  - with every commented "#key = value" line uncommented, it still loads:
    every default and example it shows is a valid value;
  - it names every key of SPEC.md's configuration section, and every key the
    loader knows (common/config.cpp's key tables), so a new key is documented.
"""

import re
import shutil
import tempfile
import tomllib
import unittest
from pathlib import Path

from aviary_test.packaging_case import PACKAGING, run
from aviary_test.programs import SOURCE, program

SHIPPED = (PACKAGING / "aviary.toml").read_text()
# "#key = value" and "#[table]" lines; prose comments have a space after "#".
COMMENTED_KEY = re.compile(r"^#([a-z_]+ = .*|\[[a-z_]+\])$", re.M)

# SPEC.md, "Configuration: one TOML file for all three programs".
SPEC_KEYS = {
    "hostname",
    "storage.path", "storage.map_size",
    "tls.certificate", "tls.private_key",
    "smtpd.listen", "smtpd.submission", "smtpd.submissions", "smtpd.max_message_size", "smtpd.max_recipients",
    "smtpd.metrics",
    "pop3d.listen", "pop3d.tls_listen", "pop3d.allow_plaintext_auth", "pop3d.metrics",
    "relay.dns", "relay.smtp_port", "relay.smarthost", "relay.routes", "relay.retry", "relay.max_queue_time",
}


def uncommented(text):
    return COMMENTED_KEY.sub(r"\1", text)


def keys(document, prefix=""):
    out = set()
    for k, v in document.items():
        name = prefix + k
        if isinstance(v, dict) and k != "routes":
            out |= keys(v, name + ".")
        else:
            out.add(name)
    return out


def loader_keys():
    """The keys of common/config.cpp's tables `const Key <section>_keys[]`."""
    source = (SOURCE / "common/config.cpp").read_text()
    found = set()
    for m in re.finditer(r"const Key (\w+)_keys\[\] = \{(.*?)\n\};", source, re.S):
        section = m.group(1)
        for key in re.findall(r'^\s*\{"(\w+)",', m.group(2), re.M):
            if section == "top_level":
                found.add(key)
            else:
                found.add(f"{section}.{key}")
    return found


class ConfigFileTest(unittest.TestCase):

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="aviary-config-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def load(self, text):
        """Runs aviaryctl with `text` as its config (store moved to tmp)."""
        self.assertIn('path = "/var/lib/aviary"', text)
        text = text.replace('path = "/var/lib/aviary"', f'path = "{self.tmp / "store"}"', 1)
        text = text.replace('#hostname = "mail.example.org"', 'hostname = "mail.example.org"', 1)
        config = self.tmp / "aviary.toml"
        config.write_text(text)
        return run([program("aviaryctl"), "-c", config, "domain", "list"], check=False)

    def test_shipped_file_loads(self):
        r = self.load(SHIPPED)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue((self.tmp / "store" / "data.mdb").exists())

    def test_every_example_value_loads(self):
        text = uncommented(SHIPPED)
        self.assertNotRegex(text, r"(?m)^#([a-z_]+ =|\[)", "a commented key or table was left")
        r = self.load(text)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_runs_as_aviary_with_the_store_in_var_lib(self):
        shipped = tomllib.loads(SHIPPED)
        self.assertEqual(shipped["user"], "aviary")
        self.assertEqual(shipped["storage"]["path"], "/var/lib/aviary")

    def test_names_every_spec_key(self):
        documented = keys(tomllib.loads(uncommented(SHIPPED)))
        self.assertEqual(SPEC_KEYS - documented, set())

    def test_names_every_key_the_loader_knows(self):
        known = loader_keys()
        self.assertGreater(len(known), len(SPEC_KEYS), "common/config.cpp's key tables were not found")
        # Sections themselves are keys of the top-level table.
        known -= {"storage", "tls", "smtpd", "pop3d", "relay", "password"}
        documented = keys(tomllib.loads(uncommented(SHIPPED)))
        self.assertEqual(known - documented, set(), "keys packaging/aviary.toml does not mention")
        self.assertEqual(documented - known, set(), "keys packaging/aviary.toml shows that the loader rejects")


if __name__ == "__main__":
    unittest.main()
