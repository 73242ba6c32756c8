// store_fixture.hpp - a fresh LMDB store in a temporary directory per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "common/address.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/env.hpp"
#include "storage/lmdb/lmdb_store.hpp"
#include "storage/lmdb/writer.hpp"
#include "tests/support/temp_dir.hpp"

namespace aviary::test {

// Builds an Address without going through the parser (these tests are about storage).
inline Address addr(const std::string& text) {
  auto at = text.rfind('@');
  return Address{text.substr(0, at), text.substr(at + 1)};
}

class StoreTest : public ::testing::Test {
 protected:
  explicit StoreTest(std::uint64_t map_size = 64ull << 20) {
    env_ = std::make_unique<storage::Env>(storage::EnvOptions{dir_.file("store"), map_size});
  }

  storage::Env& env() { return *env_; }
  // The Store on this environment, made on first use: for code that talks
  // to storage::Store (the daemons' logic).
  storage::LmdbStore& store() {
    if (!store_) store_ = std::make_unique<storage::LmdbStore>(*env_);
    return *store_;
  }

  // Runs `op` in its own committed transaction and expects it to succeed.
  void write(const storage::Writer::Op& op) {
    Status s = storage::write_once(*env_, op);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  Status try_write(const storage::Writer::Op& op) { return storage::write_once(*env_, op); }

  void add_domain(const std::string& d) {
    write([&](storage::WriteTxn& t) { return storage::add_domain(t, d); });
  }
  void add_user(const std::string& a, std::uint64_t quota = 0) {
    write([&](storage::WriteTxn& t) -> Status {
      auto u = storage::add_user(t, addr(a), "$argon2id$test", quota);
      if (!u) return u.error();
      return {};
    });
  }
  void add_alias(const std::string& source, const std::vector<std::string>& targets) {
    ASSERT_TRUE(try_add_alias(source, targets).ok());
  }
  Status try_add_alias(const std::string& source, const std::vector<std::string>& targets) {
    std::vector<Address> t;
    for (const auto& x : targets) t.push_back(addr(x));
    return try_write([&](storage::WriteTxn& txn) { return storage::add_alias(txn, addr(source), t); });
  }

  TempDir dir_;
  std::unique_ptr<storage::Env> env_;
  std::unique_ptr<storage::LmdbStore> store_;  // goes before env_
};

}  // namespace aviary::test
