"""test_upgrade.py - a store written by wave 1 (schema_version 1) is served.

The store is made as wave 1 left it: aviaryctl creates the domain and the
user (those records did not change), then this test writes, with wave 1's
byte layouts and python3-lmdb, a delivered message, a queue entry in the
first queue record format (v1: no message id, no body flags) and
schema_version 1. The daemons must migrate it at open (one log line), POP3
must serve the message byte for byte, and aviaryctl must show the queue
entry. A store with a newer schema version is refused with a clear message.
"""

import json
import struct
import time
import unittest

from aviary_test.pop3 import Pop3Client
from aviary_test.pop3_case import mailhost

PREFIX = b"Return-Path: <bob@remote.test>\r\nDelivered-To: alice@example.test\r\n"
BODY = b"Subject: from wave 1\r\n\r\nStill here after the upgrade.\r\n.leading dot\r\n"
QUEUED = b"Subject: queued by wave 1\r\n\r\nwaiting for remote.test\r\n"


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def text(b):
    return u32(len(b)) + b


def write_wave1_records(store_path, address):
    """The message, the v1 queue entry and schema_version 1, as wave 1 wrote them."""
    import lmdb  # Debian package python3-lmdb
    env = lmdb.open(str(store_path), max_dbs=16, subdir=True, create=False, map_size=64 << 20)
    try:
        with env.begin(write=True) as txn:
            db = {name: env.open_db(name.encode(), txn=txn, create=False)
                  for name in ("meta", "users", "mailboxes", "blob_meta", "blob_data", "queue", "queue_due")}
            local, domain = address.split("@")
            user_key = domain.encode() + b"\0" + local.encode()
            raw = txn.get(user_key, db=db["users"])
            # user v1: u8 1, str address, u64 id, str hash, u64 quota, usage,
            # messages, u32 next uid, i64 created
            pos = 1
            addr_len = struct.unpack(">I", raw[pos:pos + 4])[0]
            pos += 4 + addr_len
            user_id = struct.unpack(">Q", raw[pos:pos + 8])[0]
            pos += 8
            hash_len = struct.unpack(">I", raw[pos:pos + 4])[0]
            pos += 4 + hash_len
            quota = raw[pos:pos + 8]
            created = raw[pos + 8 + 8 + 8 + 4:pos + 8 + 8 + 8 + 4 + 8]
            size = len(PREFIX) + len(BODY)
            txn.put(user_key, raw[:pos] + quota + u64(size) + u64(1) + u32(2) + created, db=db["users"])
            now = int(time.time())
            # blobs 1 (the message) and 2 (the queued body): u8 1, u32 refs, u64 size
            txn.put(u64(1), b"\x01" + u32(1) + u64(len(BODY)), db=db["blob_meta"])
            txn.put(u64(1), BODY, db=db["blob_data"])
            txn.put(u64(2), b"\x01" + u32(1) + u64(len(QUEUED)), db=db["blob_meta"])
            txn.put(u64(2), QUEUED, db=db["blob_data"])
            # message v1: u8 1, u64 blob, u64 size, i64 arrival, str prefix
            txn.put(u64(user_id) + u32(1), b"\x01" + u64(1) + u64(size) + u64(now) + text(PREFIX),
                    db=db["mailboxes"])
            # queue v1, due in a day (the relay leaves it alone during the test)
            due = now + 86400
            record = (b"\x01" + text(address.encode()) + u64(2) + u64(now) + u64(due) + u32(2)
                      + u32(1) + text(b"carol@remote.test") + b"\x00" + text(b"451 4.4.1 try later"))
            txn.put(u64(1), record, db=db["queue"])
            txn.put(u64(due) + u64(1), b"", db=db["queue_due"])
            txn.put(b"next_blob_id", u64(3), db=db["meta"])
            txn.put(b"next_queue_id", u64(2), db=db["meta"])
            txn.put(b"schema_version", u32(1), db=db["meta"])
    finally:
        env.close()


def schema_version(store_path):
    import lmdb
    env = lmdb.open(str(store_path), readonly=True, max_dbs=16, subdir=True, create=False)
    try:
        with env.begin() as txn:
            return struct.unpack(">I", txn.get(b"schema_version", db=env.open_db(b"meta", txn=txn, create=False)))[0]
    finally:
        env.close()


class Wave1StoreUpgrade(unittest.TestCase):

    def setUp(self):
        self.h = mailhost("upgrade", tls=False, pop3s=False, pop3d={"allow_plaintext_auth": True})
        self.addCleanup(self.h.cleanup)
        self.h.add_domain("example.test")
        self.user, self.password = self.h.add_user("alice@example.test")
        write_wave1_records(self.h.store_path, self.user)
        self.assertEqual(schema_version(self.h.store_path), 1)

    def test_the_daemons_migrate_it_and_serve_its_mail(self):
        h = self.h
        h.start(pop3d=True)
        logs = h.smtpd.log() + h.pop3d.log()
        line = f"storage: migrated the store at {h.store_path} from schema version 1 to 2"
        self.assertEqual(logs.count(line), 1, f"one process migrates, once:\n{h.logs()}")
        self.assertEqual(schema_version(h.store_path), 2)

        with Pop3Client(h.pop3_port, timeout=30, source="127.0.0.1") as c:
            c.login(self.user, self.password)
            self.assertEqual(c.stat(), (1, len(PREFIX) + len(BODY)))
            self.assertEqual(c.uidl(), {1: "1.1"})
            self.assertEqual(c.retr(1), PREFIX + BODY)
            c.quit()

        shown = json.loads(h.ctl("--json", "queue", "show", "1").stdout)
        self.assertEqual(shown["message_id"], "1")  # v1 had none: the queue number stands in
        self.assertEqual(shown["sender"], self.user)
        self.assertEqual(shown["attempts"], 2)
        self.assertEqual(shown["size"], len(QUEUED))
        self.assertEqual(shown["recipients"], [{"address": "carol@remote.test", "status": "pending",
                                                "diagnostic": "451 4.4.1 try later"}])
        listed = json.loads(h.ctl("--json", "queue", "list").stdout)
        self.assertEqual([e["id"] for e in listed], [1])

        # Mail still arrives and is served after the upgrade.
        h.deliver(self.user, b"Subject: after\r\n\r\nnew mail\r\n")
        self.assertEqual(len(h.messages(self.user)), 2)

    def test_a_newer_store_is_refused_clearly(self):
        import lmdb
        env = lmdb.open(str(self.h.store_path), max_dbs=16, subdir=True, create=False)
        with env.begin(write=True) as txn:
            txn.put(b"schema_version", u32(99), db=env.open_db(b"meta", txn=txn, create=False))
        env.close()
        r = self.h.ctl("domain", "list", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"store at {self.h.store_path} has schema version 99, newer than this Aviary "
                      "understands (2): upgrade Aviary", r.stderr)
        self.h.pop3d.start()
        self.assertIsNotNone(self.h.pop3d.wait(30), "aviary-pop3d started on a store from the future")
        self.assertNotEqual(self.h.pop3d.proc.returncode, 0)
        self.assertIn("newer than this Aviary understands", self.h.pop3d.log())
        self.assertEqual(schema_version(self.h.store_path), 99, "the store was changed")


if __name__ == "__main__":
    unittest.main()
