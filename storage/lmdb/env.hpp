// env.hpp - the LMDB environment: one directory, one map, every table.
//
// Env is the only owner of the MDB_env. It creates the directory and the
// tables on first use, migrates a store written by an older Aviary forward
// (storage/lmdb/migrate.hpp) and refuses one written by a newer Aviary.
//
// The map size is the larger of storage.map_size and the size recorded in
// the store: LMDB only ever grows the recorded size, and several processes
// (the daemons, aviaryctl) may be configured differently. When another
// process grows the store past this process's map, the next transaction
// remaps it, once no transaction of this process is open (map_gate.hpp).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "common/log.hpp"
#include "common/result.hpp"
#include "storage/failure.hpp"
#include "storage/lmdb/map_gate.hpp"
#include "storage/lmdb/schema.hpp"

struct MDB_env;

namespace aviary::storage {

// Where the store tells the operator what it did on its own: the map size
// it adopted, a migration. Empty: a log line (common/log).
using EnvReport = std::function<void(log::Level level, const std::string& line)>;

struct EnvOptions {
  std::string path;                 // directory holding data.mdb and lock.mdb
  std::uint64_t map_size = 1ull << 30;
  unsigned max_readers = 1024;
  EnvReport report = {};
  // How long a remap waits for this process's open transactions to end
  // before the transaction that needs it fails (temporarily).
  std::chrono::milliseconds remap_patience{5000};
};

class Env {
 public:
  explicit Env(const EnvOptions& options);  // throws Failure
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* handle() const { return env_; }
  unsigned dbi(Table table) const { return dbis_[static_cast<std::size_t>(table)]; }
  const std::string& path() const { return path_; }
  // The size of the map, which grows when another process grows the store.
  std::uint64_t map_size() const { return map_size_.load(); }
  // How much of the map the data file reaches (its high-water mark): writes
  // fail with "storage full" when this reaches map_size().
  std::uint64_t map_used() const;

  // Every transaction holds a pass while it is open (see map_gate.hpp).
  MapGate::Pass enter() const;
  // After MDB_MAP_RESIZED: adopts the size another process gave the store,
  // once no transaction of this process is open. Throws Failure (a
  // temporary one) if that cannot be done now.
  void adopt_grown_map();

 private:
  void open_map(std::uint64_t configured, bool existed);
  std::uint32_t open_tables();
  bool open_existing_tables();
  void migrate_forward();
  void report(log::Level level, const std::string& line) const;

  MDB_env* env_ = nullptr;
  std::string path_;
  EnvReport report_;
  std::chrono::milliseconds remap_patience_;
  std::atomic<std::uint64_t> map_size_{0};
  std::atomic<bool> unusable_{false};  // a remap failed half-way: the map is gone
  mutable MapGate gate_;
  std::array<unsigned, table_count> dbis_{};
};

}  // namespace aviary::storage
