// storage_store_test.cpp - the Store contract (storage/store.hpp) on the LMDB
// backend: each operation through the interface, a write's completion after
// its commit, a failed write stores nothing, maildrop locks are exclusive.
#include "storage/store.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "storage/lmdb/lmdb_store.hpp"
#include "storage/lmdb/txn.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::Done;
using storage::Store;

class StoreContract : public StoreTest {
 protected:
  StoreContract() : store_(store()) {}

  void ok(const std::function<void(Done)>& start) {
    Status s = storage::wait_for(start);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  Status attempt(const std::function<void(Done)>& start) { return storage::wait_for(start); }

  void hosted_world() {
    ok([&](Done d) { store_.add_domain("example.test", d); });
    ok([&](Done d) { store_.add_user(addr("alice@example.test"), "$argon2id$a", 0, d); });
    ok([&](Done d) { store_.add_user(addr("bob@example.test"), "$argon2id$b", 0, d); });
  }

  // How many entries a table holds, read past the interface.
  std::size_t count(storage::Table table) {
    storage::ReadTxn txn(env());
    return txn.count(table);
  }

  std::shared_ptr<storage::Delivery> delivery(std::vector<std::string> local, std::vector<std::string> remote,
                                              std::string body = "Subject: hi\r\n\r\nbody\r\n") {
    auto d = std::make_shared<storage::Delivery>();
    d->id = "ID1";
    d->sender = "sender@remote.test";
    d->local = std::move(local);
    d->remote = std::move(remote);
    d->size = body.size();
    d->fill = [body](std::span<char> out) { std::memcpy(out.data(), body.data(), body.size()); };
    d->arrival = 1000;
    return d;
  }

  std::string message_of(const storage::User& user, std::uint32_t uid, std::size_t piece = 7) {
    std::string out;
    for (std::uint64_t offset = 0;;) {
      std::size_t before = out.size();
      auto total = store_.read_message(user.id, uid, offset, piece, [&](std::string_view p) { out += p; });
      if (!total) return "<gone>";
      offset += out.size() - before;
      if (offset >= *total) return out;
    }
  }

  Store& store_;
};

TEST_F(StoreContract, DirectoryWritesAndReads) {
  hosted_world();
  EXPECT_TRUE(store_.is_hosted("example.test"));
  EXPECT_FALSE(store_.is_hosted("other.test"));
  ASSERT_TRUE(store_.find_domain("example.test"));
  EXPECT_EQ(store_.find_domain("example.test")->users, 2u);
  EXPECT_EQ(store_.list_domains().size(), 1u);
  ASSERT_TRUE(store_.find_user(addr("alice@example.test")));
  EXPECT_EQ(store_.find_user(std::string_view("bob@example.test"))->password_hash, "$argon2id$b");
  EXPECT_EQ(store_.list_users(std::nullopt).size(), 2u);
  EXPECT_EQ(store_.list_users(std::string_view("other.test")).size(), 0u);

  ok([&](Done d) { store_.set_password(addr("alice@example.test"), "$argon2id$new", d); });
  ok([&](Done d) { store_.set_quota(addr("alice@example.test"), 100, d); });
  auto alice = store_.find_user(addr("alice@example.test"));
  EXPECT_EQ(alice->password_hash, "$argon2id$new");
  EXPECT_EQ(alice->quota, 100u);
  EXPECT_TRUE(store_.fits_quota("alice@example.test", 100));
  EXPECT_FALSE(store_.fits_quota("alice@example.test", 101));

  ok([&](Done d) { store_.add_alias(addr("team@example.test"), {addr("alice@example.test")}, d); });
  ok([&](Done d) { store_.add_alias(addr("team@example.test"), {addr("bob@example.test")}, d); });
  EXPECT_EQ(store_.find_alias(addr("team@example.test"))->targets.size(), 2u);
  EXPECT_EQ(store_.list_aliases(std::string_view("example.test")).size(), 1u);
  auto r = store_.resolve(addr("team@example.test"), storage::CatchAll::use);
  EXPECT_EQ(r.outcome, storage::Resolution::Outcome::deliver);
  EXPECT_EQ(r.local.size(), 2u);
  EXPECT_EQ(store_.resolve(addr("x@remote.test"), storage::CatchAll::use).outcome,
            storage::Resolution::Outcome::not_hosted);
  EXPECT_EQ(attempt([&](Done d) { store_.add_alias(addr("alice@example.test"), {addr("team@example.test")}, d); })
                .error()
                .code,
            Errc::alias_loop);

  ok([&](Done d) { store_.del_alias(addr("team@example.test"), d); });
  EXPECT_FALSE(store_.find_alias(addr("team@example.test")));
  ok([&](Done d) { store_.del_user(addr("bob@example.test"), d); });
  EXPECT_FALSE(store_.find_user(addr("bob@example.test")));
  EXPECT_EQ(attempt([&](Done d) { store_.del_domain("example.test", false, d); }).error().code, Errc::has_users);
  ok([&](Done d) { store_.del_domain("example.test", true, d); });
  EXPECT_FALSE(store_.is_hosted("example.test"));
  EXPECT_TRUE(store_.list_users(std::nullopt).empty());
}

TEST_F(StoreContract, CompletionComesAfterTheCommit) {
  ok([&](Done d) { store_.add_domain("example.test", d); });
  bool seen = false;
  ok([&](Done d) {
    store_.add_user(addr("alice@example.test"), "$argon2id$a", 0, [&, d](const Status& s) {
      // Another transaction, begun in the completion, sees the write.
      storage::ReadTxn txn(env());
      seen = storage::find_user(txn, std::string_view("alice@example.test")).has_value();
      d(s);
    });
  });
  EXPECT_TRUE(seen);
}

TEST_F(StoreContract, AFailedWriteStoresNothing) {
  EXPECT_EQ(attempt([&](Done d) { store_.add_user(addr("alice@nowhere.test"), "$argon2id$a", 0, d); }).error().code,
            Errc::not_found);
  EXPECT_TRUE(store_.list_users(std::nullopt).empty());
  hosted_world();
  EXPECT_EQ(attempt([&](Done d) { store_.add_domain("example.test", d); }).error().code, Errc::exists);
  // A delivery whose every recipient is gone stores no body either.
  Status s = attempt([&](Done d) { store_.deliver(delivery({"gone@example.test"}, {}), d); });
  EXPECT_EQ(s.error().code, Errc::not_found);
  EXPECT_EQ(count(storage::Table::blob_data), 0u);
  EXPECT_EQ(count(storage::Table::mailboxes), 0u);
}

TEST_F(StoreContract, DeliveryListReadAndDelete) {
  hosted_world();
  ok([&](Done d) { store_.deliver(delivery({"alice@example.test", "bob@example.test"}, {"x@remote.test"}), d); });
  EXPECT_EQ(count(storage::Table::blob_data), 1u) << "the body is stored once";
  auto alice = *store_.find_user(addr("alice@example.test"));
  auto messages = store_.list_messages(alice);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(message_of(alice, messages[0].uid),
            "Return-Path: <sender@remote.test>\r\nDelivered-To: alice@example.test\r\nSubject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(store_.mailbox_stat("alice@example.test")->messages, 1u);
  EXPECT_EQ(store_.read_message(alice.id, 99, 0, 10, [](std::string_view) {}), std::nullopt);

  auto queue = store_.list_queue(nullptr);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].message_id, "ID1");
  EXPECT_EQ(store_.body_size(queue[0].blob_id), 21u);
  std::string body;
  EXPECT_EQ(store_.read_body(queue[0].blob_id, 9, 100, [&](std::string_view p) { body += p; }), 21u);
  EXPECT_EQ(body, "hi\r\n\r\nbody\r\n");
  EXPECT_EQ(store_.queue_stats().messages, 1u);

  ok([&](Done d) { store_.delete_messages("alice@example.test", alice.id, {messages[0].uid}, d); });
  EXPECT_TRUE(store_.list_messages(alice).empty());
  EXPECT_EQ(message_of(alice, messages[0].uid), "<gone>");
  // Another user id under the same address: nothing is deleted.
  auto bob = *store_.find_user(addr("bob@example.test"));
  ok([&](Done d) { store_.delete_messages("bob@example.test", alice.id, {1}, d); });
  EXPECT_EQ(store_.list_messages(bob).size(), 1u);
}

TEST_F(StoreContract, FullMailboxAtCommitGetsTheBounceFromTheRequest) {
  hosted_world();
  ok([&](Done d) { store_.add_user(addr("carol@example.test"), "$argon2id$c", 10, d); });
  ok([&](Done d) { store_.deliver(delivery({"carol@example.test"}, {}), d); });  // crosses the line
  auto d = delivery({"carol@example.test", "bob@example.test"}, {});
  d->sender = "alice@example.test";
  std::vector<std::string> told;
  d->bounce_for_full = [&told](const std::vector<std::string>& full, std::int64_t, const std::string&) {
    told = full;
    return std::string("Subject: bounce\r\n\r\nfull\r\n");
  };
  ok([&](Done done) { store_.deliver(d, done); });
  EXPECT_EQ(told, std::vector<std::string>{"carol@example.test"});
  EXPECT_EQ(store_.list_messages(*store_.find_user(addr("alice@example.test"))).size(), 1u) << "the bounce";
  EXPECT_EQ(store_.list_messages(*store_.find_user(addr("carol@example.test"))).size(), 1u);
  EXPECT_EQ(attempt([&](Done done) { store_.deliver(delivery({"carol@example.test"}, {}), done); }).error().code,
            Errc::over_quota);
}

TEST_F(StoreContract, SettleUpdatesRemovesAndBounces) {
  hosted_world();
  ok([&](Done d) { store_.deliver(delivery({}, {"x@remote.test"}), d); });
  ok([&](Done d) { store_.deliver(delivery({}, {"y@remote.test"}), d); });
  auto due = store_.due_entries(2000, 10);
  ASSERT_EQ(due.size(), 2u);
  auto settle = [&](std::uint64_t id, storage::QueueDecision decide) {
    std::promise<Result<std::size_t>> settled;
    store_.settle(id, std::move(decide), [&](const Result<std::size_t>& r) { settled.set_value(r); });
    return settled.get_future().get();
  };
  auto later = settle(due[0], [](storage::QueueEntry& e) {
    e.next_attempt = 5000;
    ++e.attempts;
    return storage::QueueChange{};
  });
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, 0u);
  std::string why;
  EXPECT_EQ(store_.find_queued(due[0], why)->attempts, 1u);
  EXPECT_EQ(store_.due_entries(2000, 10), std::vector<std::uint64_t>{due[1]});

  auto gone = settle(due[1], [](storage::QueueEntry&) {
    storage::QueueChange change{storage::QueueChange::Action::remove, {}};
    change.bounce = storage::Generated{"Subject: failed\r\n\r\n", "alice@example.test", "B1", 2000};
    return change;
  });
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, 1u);
  EXPECT_FALSE(store_.find_queued(due[1], why));
  EXPECT_EQ(store_.list_messages(*store_.find_user(addr("alice@example.test"))).size(), 1u);
  auto missing = settle(999, [](storage::QueueEntry&) { return storage::QueueChange{}; });
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, 0u);

  std::promise<Result<std::size_t>> flushed;
  store_.reschedule_all(3000, [&](const Result<std::size_t>& r) { flushed.set_value(r); });
  EXPECT_EQ(*flushed.get_future().get(), 1u);
  EXPECT_EQ(store_.due_entries(3000, 10).size(), 1u);
  ok([&](Done d) { store_.remove_queued(due[0], d); });
  EXPECT_TRUE(store_.list_queue(nullptr).empty());
  EXPECT_EQ(count(storage::Table::blob_data), 1u) << "only the bounce's body is left";
}

TEST_F(StoreContract, MaildropLockIsExclusiveUntilReleased) {
  auto first = store_.lock_maildrop(7);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = store_.lock_maildrop(7);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::exists);
  EXPECT_TRUE(store_.lock_maildrop(8).ok()) << "another user's maildrop is free";
  first.value().reset();
  EXPECT_TRUE(store_.lock_maildrop(7).ok());
}

TEST_F(StoreContract, CommitsAreObservedAndStopRefusesLaterWrites) {
  std::size_t writes = 0;
  store_.set_commit_observer([&](std::chrono::duration<double>, std::size_t n) { writes += n; });
  ok([&](Done d) { store_.add_domain("example.test", d); });
  EXPECT_EQ(writes, 1u);
  EXPECT_GT(store_.usage().capacity, 0u);
  EXPECT_GT(store_.usage().used, 0u);
  store_.stop();
  store_.stop();
  EXPECT_FALSE(attempt([&](Done d) { store_.add_domain("other.test", d); }).ok());
  EXPECT_FALSE(store_.is_hosted("other.test"));
}

}  // namespace
}  // namespace aviary::test
