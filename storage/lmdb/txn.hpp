// txn.hpp - move-only LMDB transactions that abort unless committed.
//
// A transaction belongs to the thread that began it (for writers) and must
// never be held across a co_await. Views returned by get() and scan() point
// into the map and die with the transaction: copy what you keep. While any
// transaction is open the map stays where it is (Env::enter).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "storage/lmdb/env.hpp"

struct MDB_txn;

namespace aviary::storage {

class Txn {
 public:
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  std::optional<std::string_view> get(Table table, std::string_view key) const;
  bool contains(Table table, std::string_view key) const { return get(table, key).has_value(); }

  // Visits entries with key >= from in order until visit returns false.
  void scan(Table table, std::string_view from,
            const std::function<bool(std::string_view key, std::string_view value)>& visit) const;
  // Visits the entries whose key starts with prefix.
  void scan_prefix(Table table, std::string_view prefix,
                   const std::function<void(std::string_view key, std::string_view value)>& visit) const;

  // How many entries the table holds (O(1)).
  std::size_t count(Table table) const;

  Env& env() const { return *env_; }
  MDB_txn* handle() const { return txn_; }

 protected:
  Txn(Env& env, MDB_txn* parent, unsigned flags);
  Txn(Txn&& other) noexcept;
  ~Txn();
  void abort() noexcept;

  Env* env_;
  MapGate::Pass pass_;  // held for the transaction's whole life
  MDB_txn* txn_ = nullptr;
};

class ReadTxn : public Txn {
 public:
  explicit ReadTxn(Env& env);
  ReadTxn(ReadTxn&&) noexcept = default;
};

class WriteTxn : public Txn {
 public:
  explicit WriteTxn(Env& env);
  WriteTxn(WriteTxn&&) noexcept = default;

  // Inserts or replaces.
  void put(Table table, std::string_view key, std::string_view value);
  // Inserts; false if the key exists.
  bool insert(Table table, std::string_view key, std::string_view value);
  // Space for a value of `size` bytes, to be filled before the next write.
  std::span<char> reserve(Table table, std::string_view key, std::size_t size);
  // False if the key was not there.
  bool erase(Table table, std::string_view key);

  // The next value of a meta counter (starting at 1); never repeats.
  std::uint64_t next_id(std::string_view counter);

  void commit();  // throws Failure; the transaction is finished either way
};

// Throws the Failure for an LMDB return code (MDB_MAP_FULL -> storage_full).
[[noreturn]] void throw_lmdb(int rc, std::string_view what);

}  // namespace aviary::storage
