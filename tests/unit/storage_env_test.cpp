// storage_env_test.cpp - the map size a store is opened with: the larger of
// storage.map_size and what the store records, said when they differ.
#include <gtest/gtest.h>

#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/txn.hpp"
#include "storage/lmdb/writer.hpp"
#include "tests/support/temp_dir.hpp"

namespace aviary::test {
namespace {

using storage::Env;
using storage::EnvOptions;

struct Reported {
  log::Level level;
  std::string line;
};

EnvOptions options(const TempDir& dir, std::uint64_t map_size, std::vector<Reported>* reported) {
  EnvOptions o{dir.file("store"), map_size};
  o.report = [reported](log::Level level, const std::string& line) { reported->push_back({level, line}); };
  return o;
}

void write_something(Env& env) {
  ASSERT_TRUE(storage::write_once(env, [](storage::WriteTxn& t) { return storage::add_domain(t, "example.test"); }).ok());
}

TEST(EnvMapSize, ANewStoreTakesTheConfiguredSizeSilently) {
  TempDir dir;
  std::vector<Reported> reported;
  Env env(options(dir, 8 << 20, &reported));
  EXPECT_EQ(env.map_size(), 8u << 20);
  EXPECT_TRUE(reported.empty()) << reported.front().line;
}

TEST(EnvMapSize, TheSameSizeAgainIsSilent) {
  TempDir dir;
  std::vector<Reported> reported;
  { Env env(options(dir, 8 << 20, &reported)); write_something(env); }
  Env env(options(dir, 8 << 20, &reported));
  EXPECT_EQ(env.map_size(), 8u << 20);
  EXPECT_TRUE(reported.empty()) << reported.front().line;
}

TEST(EnvMapSize, ASmallerConfiguredSizeKeepsTheStoresWithAWarning) {
  // Another process (configured with more) grew the store: opening it with
  // less would make this process remap at its first look at new pages.
  TempDir dir;
  std::vector<Reported> reported;
  { Env env(options(dir, 32 << 20, &reported)); write_something(env); }
  ASSERT_TRUE(reported.empty());
  Env env(options(dir, 8 << 20, &reported));
  EXPECT_EQ(env.map_size(), 32u << 20);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].level, log::Level::warning);
  EXPECT_EQ(reported[0].line, "storage: storage.map_size is 8MiB but the store at " + dir.file("store") +
                                  " has a map of 32MiB (a process configured with more grew it): using 32MiB");
}

TEST(EnvMapSize, ALargerConfiguredSizeGrowsTheMapAndSaysSo) {
  TempDir dir;
  std::vector<Reported> reported;
  { Env env(options(dir, 8 << 20, &reported)); write_something(env); }
  Env env(options(dir, 32 << 20, &reported));
  EXPECT_EQ(env.map_size(), 32u << 20);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].level, log::Level::info);
  EXPECT_EQ(reported[0].line, "storage: the map of the store at " + dir.file("store") +
                                  " grows from 8MiB to 32MiB (storage.map_size)");
  // And the store can use it: more than the old map holds.
  Status s = storage::write_once(env, [](storage::WriteTxn& t) -> Status {
    t.put(storage::Table::meta, "filler", std::string(16 << 20, 'x'));
    return {};
  });
  EXPECT_TRUE(s.ok()) << s.error().message;
}

}  // namespace
}  // namespace aviary::test
