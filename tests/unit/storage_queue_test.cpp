// storage_queue_test.cpp - the outbound queue and its due-time index.
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/queue.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::RecipientStatus;
using storage::WriteTxn;

class QueueTest : public StoreTest {
 protected:
  std::uint64_t enqueue(std::int64_t now, std::vector<std::string> rcpts = {"a@remote.test", "b@remote.test"}) {
    std::uint64_t id = 0;
    write([&](WriteTxn& t) -> Status {
      auto blob = storage::put_blob(t, "message");
      id = storage::enqueue(t, "alice@example.test", rcpts, blob, now);
      return {};
    });
    return id;
  }
};

TEST_F(QueueTest, EnqueueAndFind) {
  auto id = enqueue(1000);
  ReadTxn txn(env());
  auto e = storage::find_queued(txn, id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sender, "alice@example.test");
  EXPECT_EQ(e->created, 1000);
  EXPECT_EQ(e->next_attempt, 1000);
  EXPECT_EQ(e->attempts, 0u);
  ASSERT_EQ(e->recipients.size(), 2u);
  EXPECT_EQ(e->recipients[1].address, "b@remote.test");
  EXPECT_EQ(e->recipients[1].status, RecipientStatus::pending);
  EXPECT_EQ(storage::read_blob(txn, e->blob_id), "message");
  EXPECT_EQ(storage::blob_refcount(txn, e->blob_id), 1u);
}

TEST_F(QueueTest, DueEntriesInOrderOfNextAttempt) {
  auto late = enqueue(3000);
  auto early = enqueue(1000);
  auto middle = enqueue(2000);
  ReadTxn txn(env());
  EXPECT_EQ(storage::due_entries(txn, 500, 10), std::vector<std::uint64_t>{});
  EXPECT_EQ(storage::due_entries(txn, 2000, 10), (std::vector<std::uint64_t>{early, middle}));
  EXPECT_EQ(storage::due_entries(txn, 9999, 10), (std::vector<std::uint64_t>{early, middle, late}));
  EXPECT_EQ(storage::due_entries(txn, 9999, 1), std::vector<std::uint64_t>{early});
}

TEST_F(QueueTest, UpdateMovesTheEntryInTheIndexAndKeepsRecipientStatus) {
  auto id = enqueue(1000);
  write([&](WriteTxn& t) -> Status {
    auto e = *storage::find_queued(t, id);
    e.attempts = 1;
    e.next_attempt = 1060;
    e.recipients[0].status = RecipientStatus::delivered;
    e.recipients[1].diagnostic = "451 4.7.1 try later";
    return storage::update_queued(t, e);
  });
  ReadTxn txn(env());
  EXPECT_TRUE(storage::due_entries(txn, 1059, 10).empty());
  EXPECT_EQ(storage::due_entries(txn, 1060, 10), std::vector<std::uint64_t>{id});
  auto e = storage::find_queued(txn, id);
  EXPECT_EQ(e->attempts, 1u);
  EXPECT_EQ(e->recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(e->recipients[1].status, RecipientStatus::pending);
  EXPECT_EQ(e->recipients[1].diagnostic, "451 4.7.1 try later");
}

TEST_F(QueueTest, RemoveDropsEntryIndexAndBlob) {
  auto id = enqueue(1000);
  std::uint64_t blob;
  {
    ReadTxn txn(env());
    blob = storage::find_queued(txn, id)->blob_id;
  }
  write([&](WriteTxn& t) { return storage::remove_queued(t, id); });
  Status again = try_write([&](WriteTxn& t) { return storage::remove_queued(t, id); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::not_found);
  ReadTxn txn(env());
  EXPECT_FALSE(storage::find_queued(txn, id));
  EXPECT_TRUE(storage::due_entries(txn, 9999, 10).empty());
  EXPECT_TRUE(storage::list_queue(txn).empty());
  EXPECT_FALSE(storage::read_blob(txn, blob));
}

TEST_F(QueueTest, UpdateOfMissingEntryIsNotFound) {
  storage::QueueEntry ghost;
  ghost.id = 42;
  Status s = try_write([&](WriteTxn& t) { return storage::update_queued(t, ghost); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
}

}  // namespace
}  // namespace aviary::test
