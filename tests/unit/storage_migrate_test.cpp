// storage_migrate_test.cpp - a store written by wave 1 (schema_version 1)
// opens, is migrated forward in one transaction with a log line, and serves
// its mail; a store from a newer Aviary is refused.
#include <gtest/gtest.h>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/migrate.hpp"
#include "storage/lmdb/queue.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wave1_store.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::RecipientStatus;
using storage::Table;

constexpr std::uint64_t map_size = 16 << 20;

struct Opened {
  std::unique_ptr<storage::Env> env;
  std::vector<std::pair<log::Level, std::string>> reported;
};

std::unique_ptr<Opened> open(const TempDir& dir) {
  auto o = std::make_unique<Opened>();
  storage::EnvOptions options{dir.file("store"), map_size};
  options.report = [r = o.get()](log::Level level, const std::string& line) { r->reported.emplace_back(level, line); };
  o->env = std::make_unique<storage::Env>(options);
  return o;
}

std::uint32_t stored_version(storage::Env& env) {
  ReadTxn txn(env);
  return storage::read_be32(txn.get(Table::meta, storage::meta_schema_version).value());
}

TEST(Migration, EveryVersionHasItsStep) {
  auto steps = storage::migration_steps();
  ASSERT_EQ(steps.size() + 1, storage::schema_version);
  for (std::size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i].from, i + 1) << steps[i].what;
}

TEST(Migration, AWave1StoreOpensMigratesAndServesItsMail) {
  TempDir dir;
  wave1::write_store(dir.file("store"), map_size);
  auto opened = open(dir);
  storage::Env& env = *opened->env;

  ASSERT_EQ(opened->reported.size(), 1u);
  EXPECT_EQ(opened->reported[0].first, log::Level::info);
  EXPECT_EQ(opened->reported[0].second,
            "storage: migrated the store at " + dir.file("store") +
                " from schema version 1 to 2 (1 -> 2: queue records v1 -> v2 (message id, body flags))");
  EXPECT_EQ(stored_version(env), storage::schema_version);

  ReadTxn txn(env);
  // The mailbox, as POP3 reads it.
  auto user = storage::find_user(txn, std::string_view(wave1::alice));
  ASSERT_TRUE(user);
  EXPECT_EQ(user->id, 1u);
  auto stat = storage::mailbox_stat(txn, wave1::alice);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->messages, 1u);
  auto messages = storage::list_messages(txn, wave1::alice);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].uidl, "1.1");
  EXPECT_EQ(storage::read_message(txn, wave1::alice, 1), wave1::alice_prefix + wave1::alice_body);
  auto view = storage::view_message(txn, 1, 1);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->size(), stat->bytes);

  // The v1 queue entry, rewritten: everything it had, a message id, flags.
  auto v1 = storage::find_queued(txn, 1);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->message_id, "1");  // v1 had none: the queue number stands in
  EXPECT_EQ(v1->sender, "alice@example.test");
  EXPECT_EQ(v1->blob_id, 2u);
  EXPECT_EQ(v1->created, wave1::created);
  EXPECT_EQ(v1->next_attempt, wave1::created + 600);
  EXPECT_EQ(v1->attempts, 3u);
  EXPECT_EQ(v1->flags, storage::body_8bit);  // the body is not ASCII
  ASSERT_EQ(v1->recipients.size(), 3u);
  EXPECT_EQ(v1->recipients[0].address, "carol@remote.test");
  EXPECT_EQ(v1->recipients[0].status, RecipientStatus::pending);
  EXPECT_EQ(v1->recipients[0].diagnostic, "451 4.3.0 try later");
  EXPECT_EQ(v1->recipients[1].status, RecipientStatus::delivered);
  EXPECT_EQ(v1->recipients[2].status, RecipientStatus::failed);
  EXPECT_EQ(v1->recipients[2].diagnostic, "550 5.1.1 no such user");
  EXPECT_EQ(storage::read_blob(txn, 2), wave1::v1_body);

  // The v2 entry is left byte for byte as it was.
  EXPECT_EQ(txn.get(Table::queue, storage::be64(2)), wave1::queue_v2());
  auto v2 = storage::find_queued(txn, 2);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->message_id, "WAVE1LATE");
  EXPECT_EQ(v2->flags, storage::body_smtputf8);

  // The relay finds both when due, and the whole queue lists.
  EXPECT_EQ(storage::due_entries(txn, wave1::created + 600, 10), (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(storage::list_queue(txn).size(), 2u);
}

TEST(Migration, AMigratedStoreKeepsWorkingAndIsNotMigratedAgain) {
  TempDir dir;
  wave1::write_store(dir.file("store"), map_size);
  { auto first = open(dir); }
  auto again = open(dir);
  EXPECT_TRUE(again->reported.empty()) << again->reported.front().second;
  storage::Env& env = *again->env;
  Status s = storage::write_once(env, [](storage::WriteTxn& t) -> Status {
    if (auto r = storage::remove_queued(t, 1); !r) return r;
    auto e = storage::find_queued(t, 2);
    if (!e) return Error{Errc::not_found, "entry 2"};
    e->recipients[0].status = RecipientStatus::delivered;
    if (auto r = storage::update_queued(t, *e); !r) return r;
    auto blob = storage::put_blob(t, "new mail");
    auto uid = storage::append_message(t, wave1::alice, blob, "Delivered-To: alice@example.test\r\n", 0);
    if (!uid) return uid.error();
    if (*uid != 2u) return Error{Errc::invalid, "uid " + std::to_string(*uid)};
    storage::enqueue(t, "", {"x@remote.test"}, blob, 0, "NEW");
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.error().message;
  ReadTxn txn(env);
  EXPECT_FALSE(storage::blob_refcount(txn, 2));  // the removed entry's body went with it
  EXPECT_EQ(storage::find_queued(txn, 2)->recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(storage::list_queue(txn).size(), 2u);
  EXPECT_EQ(storage::list_messages(txn, wave1::alice).size(), 2u);
}

TEST(Migration, AnUnreadableQueueRecordIsLeftAsItIsAndSaidNotToBlockTheOpen) {
  TempDir dir;
  std::string junk = std::string(1, '\x09') + "from the future";
  wave1::write_store(dir.file("store"), map_size, junk);
  auto opened = open(dir);
  ASSERT_EQ(opened->reported.size(), 2u);
  EXPECT_EQ(opened->reported[0].first, log::Level::warning);
  EXPECT_EQ(opened->reported[0].second, "storage: migration of " + dir.file("store") +
                                            ": queue record 3 left as it is: unknown version 9");
  EXPECT_EQ(opened->reported[1].first, log::Level::info);
  EXPECT_EQ(stored_version(*opened->env), storage::schema_version);
  ReadTxn txn(*opened->env);
  EXPECT_EQ(txn.get(Table::queue, storage::be64(3)), junk);
  EXPECT_TRUE(storage::find_queued(txn, 1));
  EXPECT_THROW(storage::find_queued(txn, 3), storage::Failure);
}

TEST(Migration, ATruncatedV1RecordIsLeftAsItIs) {
  TempDir dir;
  std::string truncated = wave1::queue_v1().substr(0, 20);
  wave1::write_store(dir.file("store"), map_size, truncated);
  auto opened = open(dir);
  ASSERT_EQ(opened->reported.size(), 2u);
  EXPECT_EQ(opened->reported[0].second, "storage: migration of " + dir.file("store") +
                                            ": queue record 3 left as it is: corrupt queue record (truncated)");
  ReadTxn txn(*opened->env);
  EXPECT_EQ(txn.get(Table::queue, storage::be64(3)), truncated);
  EXPECT_EQ(storage::find_queued(txn, 1)->recipients.size(), 3u);
}

TEST(Migration, AStoreFromANewerAviaryIsRefused) {
  TempDir dir;
  {
    storage::Env env({dir.file("store"), map_size});
    ASSERT_TRUE(storage::write_once(env, [](storage::WriteTxn& t) -> Status {
                  t.put(Table::meta, storage::meta_schema_version, storage::be32(storage::schema_version + 1));
                  return {};
                }).ok());
  }
  try {
    storage::Env env({dir.file("store"), map_size});
    FAIL() << "opened a store from the future";
  } catch (const storage::Failure& f) {
    EXPECT_EQ(std::string(f.what()), "store at " + dir.file("store") + " has schema version " +
                                         std::to_string(storage::schema_version + 1) +
                                         ", newer than this Aviary understands (" +
                                         std::to_string(storage::schema_version) + "): upgrade Aviary");
  }
}

TEST(Migration, ANewStoreStartsAtTheCurrentVersionWithoutMigrating) {
  TempDir dir;
  auto opened = open(dir);
  EXPECT_TRUE(opened->reported.empty());
  EXPECT_EQ(stored_version(*opened->env), storage::schema_version);
}

}  // namespace
}  // namespace aviary::test
