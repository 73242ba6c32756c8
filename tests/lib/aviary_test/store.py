"""The daemons' LMDB store, read directly (storage/schema.hpp, storage/queue.cpp,
storage/blob.cpp): read-only, with LMDB's lock, so that it is safe beside
the running daemons. Needs Debian's python3-lmdb."""

import struct

USER_TABLE = b"users"
MAILBOX_TABLE = b"mailboxes"
QUEUE_TABLE = b"queue"
BLOB_META_TABLE = b"blob_meta"
BLOB_TABLE = b"blob_data"
RECIPIENT_STATUS = {0: "pending", 1: "delivered", 2: "failed"}


class Decoder:
    def __init__(self, raw):
        self.raw = bytes(raw)
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.raw):
            raise ValueError("truncated record")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def str(self):
        return self.take(self.u32())


def fold_address(address):
    """The key form: ASCII letters lowercased, non-ASCII left alone."""
    return "".join(c.lower() if c.isascii() else c for c in address)


def _table(env, txn, name):
    """The table, or None if the store has none of that name yet."""
    try:
        return env.open_db(name, txn=txn, create=False)
    except Exception:  # lmdb.NotFoundError
        return None


class Store:
    """Read-only view of one store directory; every call is one read transaction."""

    def __init__(self, path):
        self.path = str(path)

    def _open(self):
        import lmdb  # Debian package python3-lmdb
        return lmdb.open(self.path, readonly=True, lock=True, max_dbs=16, subdir=True, create=False)

    def _read(self, fn):
        env = self._open()
        try:
            with env.begin() as txn:
                return fn(env, txn)
        finally:
            env.close()

    # -- users and mailboxes ----------------------------------------------------

    @staticmethod
    def _users(env, txn):
        out = {}
        db = env.open_db(USER_TABLE, txn=txn, create=False)
        for _key, raw in txn.cursor(db=db):
            d = Decoder(raw)
            if d.u8() != 1:
                raise ValueError("unknown user record version")
            user = {"address": d.str().decode("utf-8")}
            user["id"] = d.u64()
            d.str()  # password hash
            user["quota"] = d.u64()
            user["usage"] = d.u64()
            user["messages"] = d.u64()
            user["next_uid"] = d.u32()
            out[fold_address(user["address"])] = user
        return out

    def users(self):
        """{address: user dict} of every user."""
        return self._read(self._users)

    def _mailbox(self, env, txn, address):
        user = self._users(env, txn).get(fold_address(address))
        if user is None:
            raise KeyError(f"no user {address}")
        mailboxes = env.open_db(MAILBOX_TABLE, txn=txn, create=False)
        blobs = env.open_db(BLOB_TABLE, txn=txn, create=False)
        prefix = struct.pack(">Q", user["id"])
        out = []
        cursor = txn.cursor(db=mailboxes)
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if not key.startswith(prefix):
                    break
                d = Decoder(raw)
                if d.u8() != 1:
                    raise ValueError("unknown mailbox record version")
                record = {"uid": struct.unpack(">I", key[8:12])[0], "blob_id": d.u64(), "size": d.u64()}
                d.i64()  # arrival
                record["prefix"] = d.str()
                body = txn.get(struct.pack(">Q", record["blob_id"]), db=blobs)
                if body is None:
                    raise AssertionError(f"{address} uid {record['uid']}: blob {record['blob_id']} missing")
                record["data"] = record["prefix"] + bytes(body)
                if len(record["data"]) != record["size"]:
                    raise AssertionError(f"{address} uid {record['uid']}: size {record['size']} != "
                                         f"{len(record['data'])}")
                out.append(record)
        return out

    def mailbox(self, address):
        """[{uid, blob_id, size, prefix, data}] of address's messages, uid order."""
        return self._read(lambda env, txn: self._mailbox(env, txn, address))

    def messages(self, address):
        """[(uid, bytes)] of the user's messages: per-copy prefix + shared body."""
        return [(r["uid"], r["data"]) for r in self.mailbox(address)]

    def all_message_counts(self):
        return {a: u["messages"] for a, u in self.users().items()}

    # -- the queue --------------------------------------------------------------

    def queue(self):
        """[{id, message_id, sender, blob_id, created, next_attempt, attempts, recipients:
        [(address, status, diagnostic)]}], queue id order.

        Record versions: 1 = sender, blob, created, next, attempts, recipients;
        2 = message id first and a flags octet after attempts (storage/queue.cpp)."""
        def read(env, txn):
            db = _table(env, txn, QUEUE_TABLE)
            if db is None:
                return []
            out = []
            for key, raw in txn.cursor(db=db):
                d = Decoder(raw)
                version = d.u8()
                if version not in (1, 2):
                    raise AssertionError(f"unknown queue record version {version}")
                entry = {"id": struct.unpack(">Q", key)[0], "message_id": None}
                if version >= 2:
                    entry["message_id"] = d.str().decode("utf-8")
                entry.update(sender=d.str().decode("utf-8"), blob_id=d.u64(), created=d.i64(),
                             next_attempt=d.i64(), attempts=d.u32(), recipients=[])
                if version >= 2:
                    entry["flags"] = d.u8()
                for _ in range(d.u32()):
                    address = d.str().decode("utf-8")
                    status = d.u8()
                    diagnostic = d.str().decode("utf-8", "replace")
                    entry["recipients"].append((address, RECIPIENT_STATUS.get(status, status), diagnostic))
                if d.pos != len(d.raw):
                    raise AssertionError(f"queue record {entry['id']} has trailing bytes")
                out.append(entry)
            return out
        return self._read(read)

    def queue_length(self):
        def read(env, txn):
            db = env.open_db(QUEUE_TABLE, txn=txn, create=False)
            return txn.stat(db)["entries"]
        return self._read(read)

    def snapshot(self, addresses):
        """(messages per address..., queue entries), all from ONE read
        transaction, i.e. one consistent state of the store."""
        def read(env, txn):
            users = self._users(env, txn)
            mailboxes = env.open_db(MAILBOX_TABLE, txn=txn, create=False)
            out = ()
            for address in addresses:
                prefix = struct.pack(">Q", users[fold_address(address)]["id"])
                count = 0
                cursor = txn.cursor(db=mailboxes)
                if cursor.set_range(prefix):
                    for key in cursor.iternext(keys=True, values=False):
                        if not key.startswith(prefix):
                            break
                        count += 1
                out += (count,)
            queue = _table(env, txn, QUEUE_TABLE)
            return out + (txn.stat(queue)["entries"] if queue is not None else 0,)
        return self._read(read)

    # -- blobs and consistency --------------------------------------------------

    def blob(self, blob_id):
        """(refs, size, data) of a blob, or None."""
        def read(env, txn):
            meta = env.open_db(BLOB_META_TABLE, txn=txn, create=False)
            data = env.open_db(BLOB_TABLE, txn=txn, create=False)
            raw = txn.get(struct.pack(">Q", blob_id), db=meta)
            if raw is None:
                return None
            d = Decoder(raw)
            if d.u8() != 1:
                raise AssertionError("unknown blob record version")
            refs, size = d.u32(), d.u64()
            body = txn.get(struct.pack(">Q", blob_id), db=data)
            return refs, size, None if body is None else bytes(body)
        return self._read(read)

    def blobs(self):
        """{blob id: (refs, size)} from blob_meta, and the set of blob_data ids."""
        def read(env, txn):
            meta = env.open_db(BLOB_META_TABLE, txn=txn, create=False)
            data = env.open_db(BLOB_TABLE, txn=txn, create=False)
            out = {}
            for key, raw in txn.cursor(db=meta):
                if raw[0] != 1:
                    raise ValueError("unknown blob record version")
                refs, size = struct.unpack(">IQ", bytes(raw[1:13]))
                out[struct.unpack(">Q", key)[0]] = (refs, size)
            data_ids = {struct.unpack(">Q", k)[0] for k, _ in txn.cursor(db=data)}
            return out, data_ids
        return self._read(read)

    def mailbox_refs(self):
        """{blob id: number of mailbox records that reference it}."""
        def read(env, txn):
            db = env.open_db(MAILBOX_TABLE, txn=txn, create=False)
            refs = {}
            for _key, raw in txn.cursor(db=db):
                blob = struct.unpack(">Q", bytes(raw[1:9]))[0]
                refs[blob] = refs.get(blob, 0) + 1
            return refs
        return self._read(read)

    def consistency_problems(self):
        """A list of what is inconsistent (empty if all is well): user
        message counts and usage against their messages, blob reference
        counts against the mailbox records (with an empty queue)."""
        problems = []
        for address, user in self.users().items():
            msgs = self.messages(address)  # also checks blob presence and sizes
            if user["messages"] != len(msgs):
                problems.append(f"{address}: record says {user['messages']} messages, has {len(msgs)}")
            usage = sum(len(m) for _uid, m in msgs)
            if user["usage"] != usage:
                problems.append(f"{address}: record says usage {user['usage']}, messages total {usage}")
            uids = [uid for uid, _m in msgs]
            if uids and max(uids) >= user["next_uid"]:
                problems.append(f"{address}: uid {max(uids)} >= next_uid {user['next_uid']}")
        if self.queue_length() == 0:
            meta, data_ids = self.blobs()
            refs = self.mailbox_refs()
            for blob, (count, _size) in meta.items():
                if count != refs.get(blob, 0):
                    problems.append(f"blob {blob}: refcount {count}, referenced {refs.get(blob, 0)} times")
            for blob in refs:
                if blob not in meta:
                    problems.append(f"blob {blob}: referenced but has no blob_meta")
            if set(meta) != data_ids:
                problems.append(f"blob_meta ids {sorted(meta)} != blob_data ids {sorted(data_ids)}")
        return problems
