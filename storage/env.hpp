// env.hpp - the LMDB environment: one directory, one map, every table.
//
// Env is the only owner of the MDB_env. It creates the directory and the
// tables on first use and refuses a store written by a newer Aviary.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/result.hpp"
#include "storage/schema.hpp"

struct MDB_env;

namespace aviary::storage {

// A real storage failure: map full, I/O error, corruption, incompatible store.
// Expected outcomes (not found, already exists) are never Failures.
class Failure : public std::runtime_error {
 public:
  Failure(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const { return code_; }
  Error error() const { return Error{code_, what()}; }

 private:
  Errc code_;
};

struct EnvOptions {
  std::string path;                 // directory holding data.mdb and lock.mdb
  std::uint64_t map_size = 1ull << 30;
  unsigned max_readers = 1024;
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
  std::uint64_t map_size() const { return map_size_; }
  // How much of the map the data file reaches (its high-water mark): writes
  // fail with "storage full" when this reaches map_size().
  std::uint64_t map_used() const;

 private:
  void open_tables();
  bool open_existing_tables();

  MDB_env* env_ = nullptr;
  std::string path_;
  std::uint64_t map_size_ = 0;
  std::array<unsigned, table_count> dbis_{};
};

}  // namespace aviary::storage
