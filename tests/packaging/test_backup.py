"""test_backup.py - README's backup of the store, done on a live store.

The daemons run and have accepted a message; `mdb_copy -c` copies the store
into an empty directory while they keep running; aviaryctl opened on the
copy sees the domain, the user and the message. The store directory holds
only what README's "Backup" section says it does.
"""

import json
import shutil
import tempfile
import unittest
from pathlib import Path

from aviary_test.packaging_case import packaging_daemons, run, stop_all, traffic
from aviary_test.programs import program, tool


class BackupTest(unittest.TestCase):

    def setUp(self):
        self.daemons = packaging_daemons()
        self.addCleanup(self.daemons.cleanup)
        self.daemons.start(pop3d=True)
        traffic(self.daemons)  # alice@example.test gets one message
        self.tmp = Path(tempfile.mkdtemp(prefix="aviary-backup-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def stat(self, config):
        r = run([program("aviaryctl"), "-c", config, "--json", "mailbox", "stat", "alice@example.test"])
        return json.loads(r.stdout)

    def test_mdb_copy_of_a_live_store(self):
        store = self.daemons.dir / "store"
        self.assertEqual(self.stat(self.daemons.config)["messages"], 1)
        # README: only data.mdb carries data; lock.mdb, tmp/ and locks/ do not.
        self.assertLessEqual({p.name for p in store.iterdir()}, {"data.mdb", "lock.mdb", "tmp", "locks"})

        backup = self.tmp / "aviary-backup"
        backup.mkdir(mode=0o700)
        run([tool("mdb_copy"), "-c", store, backup])
        self.assertEqual({p.name for p in backup.iterdir()}, {"data.mdb"})

        config = self.tmp / "aviary.toml"
        config.write_text(self.daemons.config.read_text().replace(str(store), str(backup)))
        self.assertEqual(self.stat(config)["messages"], 1)
        domains = run([program("aviaryctl"), "-c", config, "domain", "list"]).stdout
        self.assertIn("example.test", domains)

        for name, code in stop_all(self.daemons).items():
            self.assertEqual(code, 0, f"{name}:\n{self.daemons.logs()}")


if __name__ == "__main__":
    unittest.main()
