// txn.cpp - LMDB transactions and cursors (see txn.hpp).
#include "storage/lmdb/txn.hpp"

#include <lmdb.h>

#include <string>

namespace aviary::storage {
namespace {

MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view to_view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) {
    if (int rc = mdb_cursor_open(txn, dbi, &cursor_); rc != 0) throw_lmdb(rc, "cannot open cursor");
  }
  ~Cursor() { mdb_cursor_close(cursor_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // False at the end of the table.
  bool get(MDB_val& key, MDB_val& value, MDB_cursor_op op) {
    int rc = mdb_cursor_get(cursor_, &key, &value, op);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) throw_lmdb(rc, "cannot read cursor");
    return true;
  }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace

void throw_lmdb(int rc, std::string_view what) {
  if (rc == MDB_MAP_FULL) {
    throw Failure(Errc::storage_full, "storage full: the store reached storage.map_size");
  }
  throw Failure(Errc::storage, std::string(what) + ": " + mdb_strerror(rc));
}

Txn::Txn(Env& env, MDB_txn* parent, unsigned flags) : env_(&env) {
  // MDB_MAP_RESIZED: another process grew the store past our map. Adopt its
  // size (with no transaction of ours open) and begin again; a few rounds
  // at most, in case it grows again meanwhile.
  for (int attempt = 1;; ++attempt) {
    pass_ = env.enter();
    int rc = mdb_txn_begin(env.handle(), parent, flags, &txn_);
    if (rc == 0) return;
    txn_ = nullptr;
    pass_.release();
    if (rc != MDB_MAP_RESIZED || parent != nullptr || attempt == 3) throw_lmdb(rc, "cannot begin transaction");
    env.adopt_grown_map();
  }
}

Txn::Txn(Txn&& other) noexcept : env_(other.env_), pass_(std::move(other.pass_)), txn_(other.txn_) {
  other.txn_ = nullptr;
}

Txn::~Txn() { abort(); }

void Txn::abort() noexcept {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
  pass_.release();  // after the transaction: nothing points into the map now
}

std::optional<std::string_view> Txn::get(Table table, std::string_view key) const {
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = mdb_get(txn_, env_->dbi(table), &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != 0) throw_lmdb(rc, std::string("cannot read ") + table_name(table));
  return to_view(v);
}

void Txn::scan(Table table, std::string_view from,
               const std::function<bool(std::string_view, std::string_view)>& visit) const {
  Cursor cursor(txn_, env_->dbi(table));
  MDB_val k = to_val(from);
  MDB_val v;
  bool more = from.empty() ? cursor.get(k, v, MDB_FIRST) : cursor.get(k, v, MDB_SET_RANGE);
  while (more && visit(to_view(k), to_view(v))) more = cursor.get(k, v, MDB_NEXT);
}

std::size_t Txn::count(Table table) const {
  MDB_stat stat;
  if (int rc = mdb_stat(txn_, env_->dbi(table), &stat); rc != 0) throw_lmdb(rc, "cannot count entries");
  return stat.ms_entries;
}

void Txn::scan_prefix(Table table, std::string_view prefix,
                      const std::function<void(std::string_view, std::string_view)>& visit) const {
  scan(table, prefix, [&](std::string_view key, std::string_view value) {
    if (!key.starts_with(prefix)) return false;
    visit(key, value);
    return true;
  });
}

ReadTxn::ReadTxn(Env& env) : Txn(env, nullptr, MDB_RDONLY) {}

WriteTxn::WriteTxn(Env& env) : Txn(env, nullptr, 0) {}

void WriteTxn::put(Table table, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  if (int rc = mdb_put(txn_, env_->dbi(table), &k, &v, 0); rc != 0) {
    throw_lmdb(rc, std::string("cannot write ") + table_name(table));
  }
}

bool WriteTxn::insert(Table table, std::string_view key, std::string_view value) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  int rc = mdb_put(txn_, env_->dbi(table), &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return false;
  if (rc != 0) throw_lmdb(rc, std::string("cannot write ") + table_name(table));
  return true;
}

std::span<char> WriteTxn::reserve(Table table, std::string_view key, std::size_t size) {
  MDB_val k = to_val(key);
  MDB_val v{size, nullptr};
  if (int rc = mdb_put(txn_, env_->dbi(table), &k, &v, MDB_RESERVE); rc != 0) {
    throw_lmdb(rc, std::string("cannot write ") + table_name(table));
  }
  return {static_cast<char*>(v.mv_data), size};
}

bool WriteTxn::erase(Table table, std::string_view key) {
  MDB_val k = to_val(key);
  int rc = mdb_del(txn_, env_->dbi(table), &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) throw_lmdb(rc, std::string("cannot delete from ") + table_name(table));
  return true;
}

std::uint64_t WriteTxn::next_id(std::string_view counter) {
  std::uint64_t id = 1;
  if (auto stored = get(Table::meta, counter)) id = read_be64(*stored);
  put(Table::meta, counter, be64(id + 1));
  return id;
}

void WriteTxn::commit() {
  MDB_txn* txn = txn_;
  txn_ = nullptr;
  int rc = mdb_txn_commit(txn);
  pass_.release();
  if (rc != 0) throw_lmdb(rc, "cannot commit");
}

}  // namespace aviary::storage
