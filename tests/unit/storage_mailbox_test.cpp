// storage_mailbox_test.cpp - mailboxes, quota accounting, blob references.
#include <optional>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::WriteTxn;

class MailboxTest : public StoreTest {
 protected:
  void SetUp() override {
    add_domain("example.test");
    add_user("alice@example.test");
    add_user("bob@example.test", 100);
  }

  // Stores `body` once and appends it to each mailbox with its own prefix.
  std::uint64_t deliver(const std::string& body, const std::vector<std::string>& to) {
    std::uint64_t blob = 0;
    write([&](WriteTxn& t) -> Status {
      blob = storage::put_blob(t, body);
      for (const auto& rcpt : to) {
        auto uid = storage::append_message(t, rcpt, blob, "Delivered-To: " + rcpt + "\r\n", 1700000000);
        if (!uid) return uid.error();
      }
      return {};
    });
    return blob;
  }
};

TEST_F(MailboxTest, AppendListReadWithPerCopyPrefix) {
  deliver("Subject: one\r\n\r\nbody\r\n", {"alice@example.test", "bob@example.test"});
  ReadTxn txn(env());
  auto list = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].uid, 1u);
  std::string expected = "Delivered-To: alice@example.test\r\nSubject: one\r\n\r\nbody\r\n";
  EXPECT_EQ(list[0].size, expected.size());
  EXPECT_EQ(list[0].arrival, 1700000000);
  EXPECT_EQ(*storage::read_message(txn, "alice@example.test", 1), expected);
  EXPECT_EQ(*storage::read_message(txn, "bob@example.test", 1),
            "Delivered-To: bob@example.test\r\nSubject: one\r\n\r\nbody\r\n");
  EXPECT_FALSE(storage::read_message(txn, "alice@example.test", 2));
}

TEST_F(MailboxTest, UidsGrowAndUidlsNeverRepeat) {
  deliver("a", {"alice@example.test"});
  deliver("b", {"alice@example.test"});
  std::string first_uidl;
  {
    ReadTxn txn(env());
    auto list = storage::list_messages(txn, "alice@example.test");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[1].uid, 2u);
    EXPECT_NE(list[0].uidl, list[1].uidl);
    first_uidl = list[0].uidl;
  }
  std::uint32_t doomed[] = {1, 2};
  write([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", doomed); });
  deliver("c", {"alice@example.test"});
  ReadTxn txn(env());
  auto list = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].uid, 3u);  // never reused after deletion
  EXPECT_NE(list[0].uidl, first_uidl);
  // Bob's first message has uid 1 too, but a different UIDL.
  deliver("d", {"bob@example.test"});
  ReadTxn txn2(env());
  EXPECT_NE(storage::list_messages(txn2, "bob@example.test")[0].uidl,
            storage::list_messages(txn2, "alice@example.test")[0].uidl);
}

TEST_F(MailboxTest, QuotaAccounting) {
  // bob has a 100-byte quota; the prefix counts.
  std::string prefix_bob = "Delivered-To: bob@example.test\r\n";  // 32 bytes
  std::string body(40, 'x');
  deliver(body, {"bob@example.test"});
  {
    ReadTxn txn(env());
    auto stat = storage::mailbox_stat(txn, "bob@example.test");
    ASSERT_TRUE(stat);
    EXPECT_EQ(stat->messages, 1u);
    EXPECT_EQ(stat->bytes, prefix_bob.size() + body.size());
    EXPECT_EQ(stat->quota, 100u);
    EXPECT_FALSE(storage::fits_quota(txn, "bob@example.test", 100 - stat->bytes + 1));
    EXPECT_TRUE(storage::fits_quota(txn, "bob@example.test", 100 - stat->bytes));
  }
  Status over = try_write([&](WriteTxn& t) -> Status {
    auto blob = storage::put_blob(t, body);
    auto uid = storage::append_message(t, "bob@example.test", blob, prefix_bob, 0);
    return uid ? Status{} : Status{uid.error()};
  });
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::over_quota);
  EXPECT_EQ(over.error().message, "mailbox bob@example.test is over quota");

  std::uint32_t uid1[] = {1};
  write([&](WriteTxn& t) { return storage::delete_messages(t, "bob@example.test", uid1); });
  ReadTxn txn(env());
  EXPECT_EQ(storage::mailbox_stat(txn, "bob@example.test")->bytes, 0u);
  EXPECT_EQ(storage::mailbox_stat(txn, "bob@example.test")->messages, 0u);
}

TEST_F(MailboxTest, DeleteIsAllOrNothing) {
  deliver("a", {"alice@example.test"});
  std::uint32_t uids[] = {1, 7};
  Status s = try_write([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", uids); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  ReadTxn txn(env());
  EXPECT_EQ(storage::list_messages(txn, "alice@example.test").size(), 1u);
}

TEST_F(MailboxTest, BlobIsStoredOnceAndGoesWithItsLastReference) {
  std::uint64_t blob = deliver("shared body", {"alice@example.test", "bob@example.test"});
  write([&](WriteTxn& t) -> Status {
    storage::enqueue(t, "alice@example.test", {"x@remote.test"}, blob, 0);
    return {};
  });
  auto refs = [&] {
    ReadTxn txn(env());
    return storage::blob_refcount(txn, blob);
  };
  EXPECT_EQ(refs(), 3u);
  std::uint32_t one[] = {1};
  write([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", one); });
  EXPECT_EQ(refs(), 2u);
  write([&](WriteTxn& t) { return storage::del_user(t, addr("bob@example.test")); });
  EXPECT_EQ(refs(), 1u);
  {
    ReadTxn txn(env());
    EXPECT_EQ(storage::read_blob(txn, blob), "shared body");
  }
  write([&](WriteTxn& t) { return storage::remove_queued(t, storage::list_queue(t)[0].id); });
  ReadTxn txn(env());
  EXPECT_FALSE(storage::blob_refcount(txn, blob));
  EXPECT_FALSE(storage::read_blob(txn, blob));
}

TEST_F(MailboxTest, AppendToUnknownUserOrBlob) {
  Status s = try_write([](WriteTxn& t) -> Status {
    auto blob = storage::put_blob(t, "x");
    auto uid = storage::append_message(t, "nobody@example.test", blob, "", 0);
    return uid ? Status{} : Status{uid.error()};
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  Status b = try_write([](WriteTxn& t) -> Status {
    auto uid = storage::append_message(t, "alice@example.test", 999, "", 0);
    return uid ? Status{} : Status{uid.error()};
  });
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, Errc::not_found);
}

TEST_F(MailboxTest, BlobFilledInPlace) {
  std::uint64_t blob = 0;
  write([&](WriteTxn& t) -> Status {
    blob = storage::put_blob(t, 5, [](std::span<char> dst) { std::copy_n("hello", 5, dst.data()); });
    return storage::append_message(t, "alice@example.test", blob, "", 0) ? Status{} : Status{Error{Errc::storage, "append"}};
  });
  ReadTxn txn(env());
  EXPECT_EQ(storage::read_blob(txn, blob), "hello");
  EXPECT_EQ(storage::blob_size(txn, blob), 5u);
}

// The three quota modes of append_message, as a table: usage before, size
// of the new message, quota 100.
TEST_F(MailboxTest, QuotaModes) {
  struct Case {
    std::uint64_t usage;
    std::uint64_t size;
    storage::QuotaCheck check;
    bool refused;
  };
  using storage::QuotaCheck;
  const Case cases[] = {
      {0, 100, QuotaCheck::enforce, false},  {0, 101, QuotaCheck::enforce, true},
      {99, 2, QuotaCheck::enforce, true},    {0, 101, QuotaCheck::grace, false},
      {99, 500, QuotaCheck::grace, false},   {100, 1, QuotaCheck::grace, true},
      {150, 1, QuotaCheck::grace, true},     {150, 1, QuotaCheck::skip, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "usage " << c.usage << " size " << c.size << " mode " << static_cast<int>(c.check));
    std::optional<Status> outcome;
    Status rolled_back = try_write([&](WriteTxn& t) -> Status {
      auto user = storage::find_user(t, std::string_view("bob@example.test"));
      user->usage = c.usage;
      storage::store_user(t, *user);
      auto blob = storage::put_blob(t, std::string(c.size, 'q'));
      auto uid = storage::append_message(t, "bob@example.test", blob, "", 0, c.check);
      outcome = uid ? Status{} : Status{uid.error()};
      return Error{Errc::invalid, "roll back"};
    });
    EXPECT_FALSE(rolled_back.ok());
    ASSERT_TRUE(outcome);
    EXPECT_EQ(!outcome->ok(), c.refused);
    if (c.refused) {
      EXPECT_EQ(outcome->error().code, Errc::over_quota);
    }
  }
}

// Issue 11 item 3: POP3 UPDATE deletes by user id; a user deleted and
// created again under the same address keeps the new mail.
TEST_F(MailboxTest, DeletePresentIsKeyedByUserId) {
  deliver("old one", {"alice@example.test"});
  deliver("old two", {"alice@example.test"});
  std::uint64_t old_id = 0;
  {
    ReadTxn txn(env());
    old_id = storage::find_user(txn, std::string_view("alice@example.test"))->id;
  }
  write([&](WriteTxn& t) { return storage::del_user(t, addr("alice@example.test")); });
  add_user("alice@example.test");
  deliver("new one", {"alice@example.test"});
  std::uint32_t marked[] = {1, 2};
  std::size_t deleted = 99;
  write([&](WriteTxn& t) -> Status {
    deleted = storage::delete_present(t, "alice@example.test", old_id, marked);
    return {};
  });
  EXPECT_EQ(deleted, 0u);
  ReadTxn txn(env());
  auto list = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_NE(storage::read_message(txn, "alice@example.test", list[0].uid)->find("new one"), std::string::npos);
}

TEST_F(MailboxTest, DeletePresentSkipsWhatIsGoneAndKeepsTheCounts) {
  deliver("one", {"alice@example.test"});
  deliver("two", {"alice@example.test"});
  deliver("three", {"alice@example.test"});
  std::uint64_t id = 0;
  {
    ReadTxn txn(env());
    id = storage::find_user(txn, std::string_view("alice@example.test"))->id;
  }
  std::uint32_t gone[] = {2};
  write([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", gone); });
  std::uint32_t marked[] = {1, 2, 9};
  std::size_t deleted = 0;
  write([&](WriteTxn& t) -> Status {
    deleted = storage::delete_present(t, "alice@example.test", id, marked);
    return {};
  });
  EXPECT_EQ(deleted, 1u);
  ReadTxn txn(env());
  auto list = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].uid, 3u);
  auto stat = storage::mailbox_stat(txn, "alice@example.test");
  EXPECT_EQ(stat->messages, 1u);
  EXPECT_EQ(stat->bytes, list[0].size);
  EXPECT_EQ(storage::list_messages(txn, id, 1).size(), 1u);
}

}  // namespace
}  // namespace aviary::test
