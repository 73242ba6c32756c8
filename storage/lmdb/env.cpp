// env.cpp - opening the LMDB environment and its tables (see env.hpp).
#include "storage/lmdb/env.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/units.hpp"
#include "storage/lmdb/migrate.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

Env::Env(const EnvOptions& options)
    : path_(options.path), report_(options.report), remap_patience_(options.remap_patience) {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) {
    std::filesystem::create_directories(path_, ec);
    if (ec) throw Failure(Errc::storage, "cannot create storage directory " + path_ + ": " + ec.message());
    // Mail is private: the store is readable by its owner only.
    ::chmod(path_.c_str(), 0700);
  }
  bool existed = std::filesystem::exists(path_ + "/data.mdb", ec);
  if (int rc = mdb_env_create(&env_); rc != 0) throw_lmdb(rc, "cannot create LMDB environment");
  mdb_env_set_maxdbs(env_, static_cast<MDB_dbi>(table_count));
  mdb_env_set_maxreaders(env_, options.max_readers);
  // No map size before the open: LMDB then maps the size recorded in the
  // store, which open_map compares with the configured one.
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
    open_map(options.map_size, existed);
    std::uint32_t found = open_tables();
    if (found < schema_version) migrate_forward();
  } catch (...) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw;
  }
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

void Env::report(log::Level level, const std::string& line) const {
  if (report_) {
    report_(level, line);
  } else {
    log::emit(level, line);
  }
}

// Adopts max(configured, recorded): a smaller map than the store's would
// make this process remap as soon as it reads the newest pages, and LMDB
// never shrinks the recorded size anyway.
void Env::open_map(std::uint64_t configured, bool existed) {
  MDB_envinfo info;
  if (int rc = mdb_env_info(env_, &info); rc != 0) throw_lmdb(rc, "cannot read the store's map size");
  std::uint64_t recorded = info.me_mapsize;
  if (existed && recorded > configured) {
    report(log::Level::warning, "storage: storage.map_size is " + format_size(configured) + " but the store at " +
                                    path_ + " has a map of " + format_size(recorded) +
                                    " (a process configured with more grew it): using " + format_size(recorded));
  } else if (existed && recorded < configured) {
    report(log::Level::info, "storage: the map of the store at " + path_ + " grows from " + format_size(recorded) +
                                 " to " + format_size(configured) + " (storage.map_size)");
  }
  std::uint64_t size = std::max(configured, recorded);
  if (size != recorded) {
    if (int rc = mdb_env_set_mapsize(env_, size); rc != 0) throw_lmdb(rc, "cannot set the map size");
    if (int rc = mdb_env_info(env_, &info); rc != 0) throw_lmdb(rc, "cannot read the store's map size");
  }
  map_size_ = info.me_mapsize;
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

// Opens (creates) every table and returns the schema version of the store,
// writing the current one into a new store.
std::uint32_t Env::open_tables() {
  if (open_existing_tables()) return schema_version;
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
  std::uint32_t found = schema_version;
  int rc = mdb_get(txn, dbi(Table::meta), &key, &value);
  if (rc == 0) {
    found = read_be32({static_cast<const char*>(value.mv_data), value.mv_size});
    if (found > schema_version) {
      mdb_txn_abort(txn);
      throw Failure(Errc::storage, "store at " + path_ + " has schema version " + std::to_string(found) +
                                       ", newer than this Aviary understands (" +
                                       std::to_string(schema_version) + "): upgrade Aviary");
    }
  } else if (rc == MDB_NOTFOUND) {
    // A new store: nothing to migrate.
    std::string v = be32(schema_version);
    MDB_val data{v.size(), v.data()};
    if (int prc = mdb_put(txn, dbi(Table::meta), &key, &data, 0); prc != 0) fail(prc, "cannot write schema version");
  } else {
    fail(rc, "cannot read schema version");
  }
  if (int crc = mdb_txn_commit(txn); crc != 0) throw_lmdb(crc, "cannot create tables");
  return found;
}

// Every step in one write transaction with the new version: the store is
// wholly at its old version or wholly at the new one, whatever happens.
void Env::migrate_forward() {
  WriteTxn txn(*this);
  // Read again under the write lock: another process may have just done it.
  auto stored = txn.get(Table::meta, meta_schema_version);
  std::uint32_t now = stored ? read_be32(*stored) : schema_version;
  if (now >= schema_version) return;
  MigrationReport done = migrate(txn, now);
  txn.commit();
  for (const auto& problem : done.problems) report(log::Level::warning, "storage: migration of " + path_ + ": " + problem);
  std::string steps;
  for (const auto& step : done.steps) steps += (steps.empty() ? "" : "; ") + step;
  report(log::Level::info, "storage: migrated the store at " + path_ + " from schema version " + std::to_string(now) +
                               " to " + std::to_string(schema_version) + " (" + steps + ")");
}

MapGate::Pass Env::enter() const {
  if (unusable_) throw Failure(Errc::storage, "the store at " + path_ + " lost its map in a failed remap: restart");
  return gate_.enter();
}

void Env::adopt_grown_map() {
  if (gate_.held_by_this_thread()) {
    // Remapping would wait for our own transaction.
    throw Failure(Errc::storage, "the store grew past this process's map while this thread holds a transaction; "
                                 "try again");
  }
  auto outcome = gate_.exclusive(remap_patience_, [this] {
    std::uint64_t before = map_size_;
    // 0: the size the store records, which the process that grew it set.
    int rc = mdb_env_set_mapsize(env_, 0);
    MDB_envinfo info{};
    if (rc == 0) rc = mdb_env_info(env_, &info);
    if (rc == 0 && info.me_mapsize < before) {
      // Never below what this process was configured with.
      rc = mdb_env_set_mapsize(env_, before);
      if (rc == 0) rc = mdb_env_info(env_, &info);
    }
    if (rc != 0) {
      unusable_ = true;
      throw Failure(Errc::storage, "cannot remap the store at " + path_ + ": " + mdb_strerror(rc));
    }
    map_size_ = info.me_mapsize;
    report(log::Level::info, "storage: another process grew the store at " + path_ + "; remapped from " +
                                 format_size(before) + " to " + format_size(info.me_mapsize));
  });
  if (outcome == MapGate::Outcome::timed_out) {
    throw Failure(Errc::storage, "the store grew past this process's map and its transactions stayed open for " +
                                     std::to_string(remap_patience_.count()) + " ms; try again");
  }
}

std::uint64_t Env::map_used() const {
  MapGate::Pass pass = enter();  // the meta pages are in the map
  MDB_envinfo info;
  MDB_stat stat;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return 0;
  return (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
}

}  // namespace aviary::storage
