// env.cpp - opening the LMDB environment and its tables (see env.hpp).
#include "storage/env.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "storage/txn.hpp"

namespace aviary::storage {

Env::Env(const EnvOptions& options) : path_(options.path), map_size_(options.map_size) {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) {
    std::filesystem::create_directories(path_, ec);
    if (ec) throw Failure(Errc::storage, "cannot create storage directory " + path_ + ": " + ec.message());
    // Mail is private: the store is readable by its owner only.
    ::chmod(path_.c_str(), 0700);
  }
  if (int rc = mdb_env_create(&env_); rc != 0) throw_lmdb(rc, "cannot create LMDB environment");
  mdb_env_set_maxdbs(env_, static_cast<MDB_dbi>(table_count));
  mdb_env_set_maxreaders(env_, options.max_readers);
  mdb_env_set_mapsize(env_, options.map_size);
  // MDB_NOTLS: read transactions are not tied to a thread, so a reader may be
  // handed between worker threads. Never MDB_NOSYNC: a commit is on disk.
  if (int rc = mdb_env_open(env_, path_.c_str(), MDB_NOTLS, 0600); rc != 0) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw Failure(Errc::storage, "cannot open store at " + path_ + ": " + mdb_strerror(rc));
  }
  // Reader slots of crashed processes would otherwise pin old pages forever.
  int dead = 0;
  mdb_reader_check(env_, &dead);
  try {
    open_tables();
  } catch (...) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) == 0) map_size_ = info.me_mapsize;
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

// True if every table exists and the schema version is this one: then they
// are opened in a read transaction and no write lock is taken, so that a
// read-only command (aviaryctl ... list) never waits for a writer.
bool Env::open_existing_tables() {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return false;
  for (std::size_t i = 0; i < table_count; ++i) {
    auto table = static_cast<Table>(i);
    if (mdb_dbi_open(txn, table_name(table), 0, &dbis_[i]) != 0) {
      mdb_txn_abort(txn);
      return false;
    }
  }
  MDB_val key{meta_schema_version.size(), const_cast<char*>(meta_schema_version.data())};
  MDB_val value;
  bool current = mdb_get(txn, dbis_[static_cast<std::size_t>(Table::meta)], &key, &value) == 0 &&
                 read_be32({static_cast<const char*>(value.mv_data), value.mv_size}) == schema_version;
  if (!current) {
    mdb_txn_abort(txn);
    return false;
  }
  // Committing a read transaction keeps the table handles it opened.
  return mdb_txn_commit(txn) == 0;
}

void Env::open_tables() {
  if (open_existing_tables()) return;
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) throw_lmdb(rc, "cannot begin transaction");
  auto fail = [&](int rc, const std::string& what) {
    mdb_txn_abort(txn);
    throw_lmdb(rc, what);
  };
  for (std::size_t i = 0; i < table_count; ++i) {
    auto table = static_cast<Table>(i);
    if (int rc = mdb_dbi_open(txn, table_name(table), MDB_CREATE, &dbis_[i]); rc != 0) {
      fail(rc, std::string("cannot open table ") + table_name(table));
    }
  }

  MDB_val key{meta_schema_version.size(), const_cast<char*>(meta_schema_version.data())};
  MDB_val value;
  int rc = mdb_get(txn, dbi(Table::meta), &key, &value);
  if (rc == 0) {
    std::uint32_t found = read_be32({static_cast<const char*>(value.mv_data), value.mv_size});
    if (found > schema_version) {
      mdb_txn_abort(txn);
      throw Failure(Errc::storage, "store at " + path_ + " has schema version " + std::to_string(found) +
                                       ", newer than this Aviary understands (" +
                                       std::to_string(schema_version) + "): upgrade Aviary");
    }
  } else if (rc == MDB_NOTFOUND) {
    std::string v = be32(schema_version);
    MDB_val data{v.size(), v.data()};
    if (int prc = mdb_put(txn, dbi(Table::meta), &key, &data, 0); prc != 0) fail(prc, "cannot write schema version");
  } else {
    fail(rc, "cannot read schema version");
  }
  if (int crc = mdb_txn_commit(txn); crc != 0) throw_lmdb(crc, "cannot create tables");
}

std::uint64_t Env::map_used() const {
  MDB_envinfo info;
  MDB_stat stat;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return 0;
  return (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
}

}  // namespace aviary::storage
