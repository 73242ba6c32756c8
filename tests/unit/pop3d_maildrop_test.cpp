// pop3d_maildrop_test.cpp - the maildrop a POP3 session sees: its snapshot
// and its UPDATE, on a temporary store; how much work each does.
#include "pop3d/maildrop.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "tests/support/store_fixture.hpp"

// Counts allocations made on the thread that asks (the whole test binary
// allocates through this; only the counting is extra). GCC takes the
// replaced delete's free() for a mismatch with new once it inlines both.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

// Every form that pairs with the replaced delete, so that memory from any
// of them (std::stable_sort's nothrow buffer, say) is freed the way it was
// taken (AddressSanitizer checks that).
namespace {
void* counted_malloc(std::size_t size) noexcept {
  if (counting) ++allocations;
  return std::malloc(size ? size : 1);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_malloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::WriteTxn;

// How many allocations `work` makes on this thread.
template <class F>
std::size_t allocations_of(F&& work) {
  allocations = 0;
  counting = true;
  work();
  counting = false;
  return allocations;
}

class MaildropTest : public StoreTest {
 protected:
  void SetUp() override {
    add_domain("example.test");
    add_user("alice@example.test");
  }

  // `n` messages for alice, in one transaction.
  void fill(int n, const std::string& body = "Subject: x\r\n\r\nbody\r\n") {
    write([&](WriteTxn& t) -> Status {
      for (int i = 0; i < n; ++i) {
        auto blob = storage::put_blob(t, body + std::to_string(i));
        auto uid = storage::append_message(t, "alice@example.test", blob,
                                           "Return-Path: <sender@remote.test>\r\nDelivered-To: alice@example.test\r\n", 0);
        if (!uid) return uid.error();
      }
      return {};
    });
  }

  std::unique_ptr<pop3d::Maildrop> open() {
    auto drop = pop3d::Maildrop::open(store(), "alice@example.test");
    EXPECT_TRUE(drop.ok());
    return drop ? std::move(*drop) : nullptr;
  }

  void update(const pop3d::Maildrop& drop) {
    Status s = storage::wait_for([&](storage::Done done) { drop.delete_marked(store(), done); });
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
};

// Issue 11 item 3: UPDATE is keyed by user id. The user is deleted and
// created again while the session is open; its QUIT leaves the new mail.
TEST_F(MaildropTest, UpdateAfterTheUserWasCreatedAgainDeletesNothing) {
  fill(2);
  auto drop = open();
  ASSERT_TRUE(drop);
  ASSERT_TRUE(drop->mark_deleted(1));
  ASSERT_TRUE(drop->mark_deleted(2));
  write([](WriteTxn& t) { return storage::del_user(t, addr("alice@example.test")); });
  add_user("alice@example.test");
  fill(2, "Subject: for the new alice\r\n\r\n");
  update(*drop);
  ReadTxn txn(env());
  auto left = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(left.size(), 2u) << "the old session's QUIT deleted the new user's mail";
  EXPECT_NE(storage::read_message(txn, "alice@example.test", 1)->find("for the new alice"), std::string::npos);
}

TEST_F(MaildropTest, UpdateDeletesOnlyTheMarkedOnesStillThere) {
  fill(4);
  auto drop = open();
  ASSERT_TRUE(drop);
  drop->mark_deleted(2);
  drop->mark_deleted(3);
  std::uint32_t by_admin[] = {3};
  write([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", by_admin); });
  update(*drop);
  update(*drop);  // as a batch the writer retries would
  ReadTxn txn(env());
  std::vector<std::uint32_t> uids;
  for (const auto& m : storage::list_messages(txn, "alice@example.test")) uids.push_back(m.uid);
  EXPECT_EQ(uids, (std::vector<std::uint32_t>{1, 4}));
  EXPECT_EQ(storage::mailbox_stat(txn, "alice@example.test")->messages, 2u);
}

// Issue 11 item 10: UPDATE runs inside the writer, under LMDB's write lock;
// it must look up only the marked messages, not list the whole maildrop
// (100k allocations for a 100k-message maildrop). Opening the maildrop
// allocates once for the list, not once per message.
TEST_F(MaildropTest, OpenAndUpdateDoNotAllocatePerMessage) {
  constexpr int n = 3000;
  fill(n);
  std::unique_ptr<pop3d::Maildrop> drop;
  std::size_t opening = allocations_of([&] { drop = open(); });
  ASSERT_TRUE(drop);
  ASSERT_EQ(drop->count(), static_cast<std::size_t>(n));
  EXPECT_LT(opening, 100u) << "Maildrop::open allocated per message";
  drop->mark_deleted(7);
  // The maildrop's part and the store's (Store::delete_messages runs
  // storage::delete_present in the writer).
  std::vector<std::uint32_t> uids;
  std::size_t updating = allocations_of([&] { uids = drop->marked_uids(); });
  write([&](WriteTxn& t) -> Status {
    updating += allocations_of([&] { storage::delete_present(t, "alice@example.test", drop->user_id(), uids); });
    return {};
  });
  EXPECT_LT(updating, 100u) << "UPDATE allocated per message of the maildrop";
  ReadTxn txn(env());
  EXPECT_EQ(storage::mailbox_stat(txn, "alice@example.test")->messages, static_cast<std::uint64_t>(n - 1));
}

}  // namespace
}  // namespace aviary::test
