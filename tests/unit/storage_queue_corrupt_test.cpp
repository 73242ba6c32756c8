// storage_queue_corrupt_test.cpp - a queue record that cannot be decoded
// (corruption, a format from a newer binary) is skipped by every scan and
// reported, instead of stopping the scan (issue 11 item 8).
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/queue.hpp"
#include "storage/lmdb/schema.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::Table;
using storage::WriteTxn;

class CorruptQueueTest : public StoreTest {
 protected:
  std::uint64_t enqueue(std::int64_t now, const std::string& rcpt) {
    std::uint64_t id = 0;
    write([&](WriteTxn& t) -> Status {
      auto blob = storage::put_blob(t, "message");
      id = storage::enqueue(t, "alice@example.test", {rcpt}, blob, now);
      return {};
    });
    return id;
  }
  // A record under `id` that no decoder reads: a version byte nobody
  // wrote, or a known version cut short; due at `due`.
  void garbage(std::uint64_t id, std::int64_t due, std::string raw) {
    write([&](WriteTxn& t) -> Status {
      t.put(Table::queue, storage::be64(id), raw);
      t.put(Table::queue_due, storage::be64(static_cast<std::uint64_t>(due)) + storage::be64(id), {});
      return {};
    });
  }
};

TEST_F(CorruptQueueTest, ScansSkipTheRecordAndKeepTheOthers) {
  auto first = enqueue(1000, "a@remote.test");
  auto second = enqueue(1001, "b@remote.test");
  garbage(0, 900, "\xee garbage");     // before both, in the table and in the due index
  garbage(99, 950, std::string("\x02\x00\x00", 3));  // a known version byte, then too short

  ReadTxn txn(env());
  std::vector<std::uint64_t> corrupt;
  auto all = storage::list_queue(txn, &corrupt);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, first);
  EXPECT_EQ(all[1].id, second);
  EXPECT_EQ(corrupt, (std::vector<std::uint64_t>{0, 99}));
  EXPECT_EQ(storage::list_queue(txn).size(), 2u);  // without the out-parameter too

  // The stats count every record and take the age of the first readable one.
  auto stats = storage::queue_stats(txn);
  EXPECT_EQ(stats.messages, 4u);
  EXPECT_EQ(stats.oldest_created, 1000);

  // The due index still names them; find_queued says why instead of throwing.
  auto due = storage::due_entries(txn, 2000, 10);
  EXPECT_EQ(due, (std::vector<std::uint64_t>{0, 99, first, second}));
  std::string why;
  EXPECT_FALSE(storage::find_queued(txn, 0, why));
  EXPECT_NE(why.find("queue"), std::string::npos) << why;
  why.clear();
  EXPECT_FALSE(storage::find_queued(txn, 99, why));
  EXPECT_FALSE(why.empty());
  why.clear();
  auto fine = storage::find_queued(txn, first, why);
  ASSERT_TRUE(fine);
  EXPECT_TRUE(why.empty());
  EXPECT_FALSE(storage::find_queued(txn, 12345, why));  // absent: nullopt, no reason
  EXPECT_TRUE(why.empty());
  // The plain lookup still throws: a caller that must have the entry learns why.
  EXPECT_THROW(storage::find_queued(txn, 0), storage::Failure);
}

TEST_F(CorruptQueueTest, FlushReschedulesTheReadableEntries) {
  auto id = enqueue(1000, "a@remote.test");
  write([&](WriteTxn& t) -> Status {
    auto e = *storage::find_queued(t, id);
    e.next_attempt = 5000;
    return storage::update_queued(t, e);
  });
  garbage(0, 900, "\xee");
  std::size_t n = 0;
  write([&](WriteTxn& t) -> Status {
    n = storage::reschedule_all(t, 1500);
    return {};
  });
  EXPECT_EQ(n, 1u);
  ReadTxn txn(env());
  EXPECT_EQ(storage::find_queued(txn, id)->next_attempt, 1500);
}

TEST_F(CorruptQueueTest, OnlyCorruptRecordsMeanNoOldest) {
  garbage(0, 900, "");
  ReadTxn txn(env());
  auto stats = storage::queue_stats(txn);
  EXPECT_EQ(stats.messages, 1u);
  EXPECT_EQ(stats.oldest_created, 0);
}

}  // namespace
}  // namespace aviary::test
