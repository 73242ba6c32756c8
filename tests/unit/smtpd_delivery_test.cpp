// smtpd_delivery_test.cpp - the Received header (RFC 5321 §4.4), dates
// (RFC 5322 §3.3), message ids, and the one-commit delivery operation run on
// a temporary store.
#include "common/header.hpp"
#include "smtpd/delivery.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"
#include "storage/lmdb/store_writes.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::smtpd {
namespace {

using test::StoreTest;

// received_header -------------------------------------------------------------------

struct HeaderCase {
  std::string label;
  TraceInfo trace;
  std::string header;
};
void PrintTo(const HeaderCase& c, std::ostream* os) { *os << c.label; }

TraceInfo trace(std::string protocol, std::string tls, std::string for_recipient, std::string peer = "192.0.2.1") {
  TraceInfo t;
  t.helo = "client.test";
  t.peer = std::move(peer);
  t.hostname = "mail.example.test";
  t.protocol = std::move(protocol);
  t.tls = std::move(tls);
  t.id = "0ABCDEFGHIJKLMNOPQRST";
  t.for_recipient = std::move(for_recipient);
  t.when = 1700000000;
  return t;
}

const std::string date = "Tue, 14 Nov 2023 22:13:20 +0000";
const std::string from = "Received: from client.test ([192.0.2.1])\r\n";

const std::vector<HeaderCase> header_cases = {
    {"esmtp_one_recipient", trace("ESMTP", "", "alice@example.test"),
     from + "\tby mail.example.test (Aviary) with ESMTP id 0ABCDEFGHIJKLMNOPQRST\r\n\tfor <alice@example.test>; " +
         date + "\r\n"},
    {"esmtp_several_recipients_no_for", trace("ESMTP", "", ""),
     from + "\tby mail.example.test (Aviary) with ESMTP id 0ABCDEFGHIJKLMNOPQRST; " + date + "\r\n"},
    {"esmtps_with_tls_details", trace("ESMTPS", "TLSv1.3 TLS_AES_256_GCM_SHA384", "alice@example.test"),
     from +
         "\tby mail.example.test (Aviary) with ESMTPS (TLSv1.3 TLS_AES_256_GCM_SHA384) id 0ABCDEFGHIJKLMNOPQRST\r\n"
         "\tfor <alice@example.test>; " +
         date + "\r\n"},
    {"esmtps_several_recipients", trace("ESMTPS", "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256", ""),
     from +
         "\tby mail.example.test (Aviary) with ESMTPS (TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256) id "
         "0ABCDEFGHIJKLMNOPQRST; " +
         date + "\r\n"},
    {"smtp_after_helo", trace("SMTP", "", "bob@example.test"),
     from + "\tby mail.example.test (Aviary) with SMTP id 0ABCDEFGHIJKLMNOPQRST\r\n\tfor <bob@example.test>; " + date +
         "\r\n"},
    {"quoted_recipient", trace("ESMTP", "", "\"john doe\"@example.test"),
     from + "\tby mail.example.test (Aviary) with ESMTP id 0ABCDEFGHIJKLMNOPQRST\r\n"
            "\tfor <\"john doe\"@example.test>; " +
         date + "\r\n"},
    // RFC 5321 §4.1.3: an IPv6 address literal is "[IPv6:...]" (TCP-info in §4.4).
    {"ipv6_peer_address_literal", trace("ESMTP", "", "", "2001:db8::1"),
     "Received: from client.test ([IPv6:2001:db8::1])\r\n"
     "\tby mail.example.test (Aviary) with ESMTP id 0ABCDEFGHIJKLMNOPQRST; " +
         date + "\r\n"},
};

class ReceivedHeader : public testing::TestWithParam<HeaderCase> {};

TEST_P(ReceivedHeader, Format) {
  const HeaderCase& c = GetParam();
  std::string h = received_header(c.trace);
  EXPECT_EQ(h, c.header);

  // A folded header: CRLF only, each continuation starts with a tab, one ";".
  ASSERT_TRUE(h.ends_with("\r\n"));
  std::size_t start = 0;
  int lines = 0;
  while (start < h.size()) {
    std::size_t end = h.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    std::string line = h.substr(start, end - start);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF in " << line;
    EXPECT_LE(line.size(), 998u);
    if (lines > 0) {
      EXPECT_TRUE(line.starts_with("\t")) << line;
    }
    ++lines;
    start = end + 2;
  }
  EXPECT_TRUE(h.starts_with("Received: from "));
  EXPECT_EQ(std::count(h.begin(), h.end(), ';'), 1);
  EXPECT_EQ(h.find(" for ") == std::string::npos && h.find("\tfor ") == std::string::npos,
            c.trace.for_recipient.empty());
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ReceivedHeader, testing::ValuesIn(header_cases),
                         [](const testing::TestParamInfo<HeaderCase>& info) { return info.param.label; });

// rfc5322_date ----------------------------------------------------------------------

TEST(SmtpdDelivery, Rfc5322Date) {
  const std::vector<std::pair<std::int64_t, std::string>> cases = {
      {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
      {1700000000, "Tue, 14 Nov 2023 22:13:20 +0000"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},  // leap day
      {1000000000, "Sun, 09 Sep 2001 01:46:40 +0000"},  // one-digit day padded
      {4102444799, "Thu, 31 Dec 2099 23:59:59 +0000"},
      {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
  };
  for (const auto& [when, text] : cases) EXPECT_EQ(header::rfc5322_date(when), text) << when;
}

// new_message_id --------------------------------------------------------------------

TEST(SmtpdDelivery, MessageIdsAreUniqueAndPlain) {
  constexpr std::string_view alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
  std::int64_t before = static_cast<std::int64_t>(std::time(nullptr));
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 10000; ++i) {
    std::string id = header::new_message_id();
    ASSERT_EQ(id.size(), 21u) << id;
    for (char c : id) ASSERT_NE(alphabet.find(c), std::string_view::npos) << id;
    ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
    // Time-ordered: the 8-character time prefix never goes back.
    if (!previous.empty()) {
      ASSERT_GE(id.substr(0, 8), previous.substr(0, 8));
    }
    previous = id;
  }
  std::int64_t after = static_cast<std::int64_t>(std::time(nullptr));
  // The prefix is the arrival second in base 32.
  std::int64_t when = 0;
  for (char c : previous.substr(0, 8)) when = when * 32 + static_cast<std::int64_t>(alphabet.find(c));
  EXPECT_GE(when, before);
  EXPECT_LE(when, after);
}

// storage_delivery, stored by the LMDB backend's write ------------------------------

// The operation LmdbStore::deliver hands its writer.
storage::Writer::Op delivery_op(std::shared_ptr<const Delivery> d) { return storage::delivery_op(storage_delivery(d)); }

class DeliveryTest : public StoreTest {
 protected:
  void SetUp() override {
    add_domain("example.test");
    add_user("alice@example.test");
    add_user("bob@example.test");
  }

  std::shared_ptr<Delivery> delivery(std::vector<std::string> local, std::vector<std::string> remote,
                                     const std::string& content, std::string sender = "sender@remote.test",
                                     std::size_t memory_limit = 1 << 20) {
    auto d = std::make_shared<Delivery>();
    d->id = "TESTID";
    d->sender = std::move(sender);
    d->local = std::move(local);
    d->remote = std::move(remote);
    TraceInfo t;
    t.helo = "client.test";
    t.peer = "192.0.2.1";
    t.hostname = "mail.example.test";
    t.protocol = "ESMTP";
    t.id = d->id;
    t.when = arrival;
    d->header = received_header(t);
    d->body = std::make_unique<MessageBuffer>(dir_.path(), memory_limit);
    d->body->append(content);
    d->arrival = arrival;
    return d;
  }

  std::size_t blob_count() {
    storage::ReadTxn t(env());
    std::size_t n = 0;
    t.scan(storage::Table::blob_data, "", [&](std::string_view, std::string_view) {
      ++n;
      return true;
    });
    return n;
  }

  static constexpr std::int64_t arrival = 1700000000;
  const std::string body = "Subject: hello\r\n\r\nHello, world.\r\n";
};

std::string prefix(const std::string& sender, const std::string& user) {
  return "Return-Path: <" + sender + ">\r\nDelivered-To: " + user + "\r\n";
}

TEST_F(DeliveryTest, TwoLocalCopiesShareOneBlob) {
  auto d = delivery({"alice@example.test", "bob@example.test"}, {}, body);
  write(delivery_op(d));

  storage::ReadTxn t(env());
  auto alice = storage::list_messages(t, "alice@example.test");
  auto bob = storage::list_messages(t, "bob@example.test");
  ASSERT_EQ(alice.size(), 1u);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(alice[0].blob_id, bob[0].blob_id);
  EXPECT_EQ(storage::blob_refcount(t, alice[0].blob_id), 2u);
  EXPECT_EQ(storage::read_blob(t, alice[0].blob_id), d->header + body);
  EXPECT_EQ(blob_count(), 1u);

  const std::string alice_copy = prefix("sender@remote.test", "alice@example.test") + d->header + body;
  const std::string bob_copy = prefix("sender@remote.test", "bob@example.test") + d->header + body;
  EXPECT_EQ(storage::read_message(t, "alice@example.test", alice[0].uid), alice_copy);
  EXPECT_EQ(storage::read_message(t, "bob@example.test", bob[0].uid), bob_copy);
  EXPECT_EQ(alice[0].size, alice_copy.size());
  EXPECT_EQ(alice[0].arrival, arrival);
  EXPECT_EQ(storage::mailbox_stat(t, "bob@example.test")->bytes, bob_copy.size());
  EXPECT_TRUE(storage::list_queue(t).empty());
}

TEST_F(DeliveryTest, RemoteRecipientsQueuedInTheSameTransaction) {
  auto d = delivery({"alice@example.test"}, {"x@remote.test", "y@other.test"}, body);
  write(delivery_op(d));

  storage::ReadTxn t(env());
  auto alice = storage::list_messages(t, "alice@example.test");
  ASSERT_EQ(alice.size(), 1u);
  auto queue = storage::list_queue(t);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].sender, "sender@remote.test");
  EXPECT_EQ(queue[0].blob_id, alice[0].blob_id);
  EXPECT_EQ(queue[0].created, arrival);
  ASSERT_EQ(queue[0].recipients.size(), 2u);
  EXPECT_EQ(queue[0].recipients[0].address, "x@remote.test");
  EXPECT_EQ(queue[0].recipients[1].address, "y@other.test");
  for (const auto& r : queue[0].recipients) EXPECT_EQ(r.status, storage::RecipientStatus::pending);
  EXPECT_EQ(storage::blob_refcount(t, alice[0].blob_id), 2u);
  EXPECT_EQ(storage::read_blob(t, queue[0].blob_id), d->header + body);
}

TEST_F(DeliveryTest, OnlyRemoteRecipients) {
  auto d = delivery({}, {"x@remote.test"}, body, "");
  write(delivery_op(d));
  storage::ReadTxn t(env());
  auto queue = storage::list_queue(t);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].sender, "");
  EXPECT_EQ(storage::blob_refcount(t, queue[0].blob_id), 1u);
  EXPECT_TRUE(storage::list_messages(t, "alice@example.test").empty());
}

TEST_F(DeliveryTest, NullSenderGetsAnEmptyReturnPath) {
  auto d = delivery({"alice@example.test"}, {}, body, "");
  write(delivery_op(d));
  storage::ReadTxn t(env());
  auto alice = storage::list_messages(t, "alice@example.test");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(storage::read_message(t, "alice@example.test", alice[0].uid),
            "Return-Path: <>\r\nDelivered-To: alice@example.test\r\n" + d->header + body);
}

TEST_F(DeliveryTest, SpilledBodyStoredByteExact) {
  std::string big;
  for (int i = 0; i < 20000; ++i) big += static_cast<char>(i * 7 % 256);
  auto d = delivery({"alice@example.test", "bob@example.test"}, {}, big, "sender@remote.test", 1024);
  ASSERT_TRUE(d->body->spilled());
  write(delivery_op(d));
  storage::ReadTxn t(env());
  auto bob = storage::list_messages(t, "bob@example.test");
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(storage::read_message(t, "bob@example.test", bob[0].uid),
            prefix("sender@remote.test", "bob@example.test") + d->header + big);
}

TEST_F(DeliveryTest, UserDeletedBeforeDeliveryGetsNothing) {
  auto d = delivery({"alice@example.test", "bob@example.test"}, {}, body);
  write([](storage::WriteTxn& t) { return storage::del_user(t, test::addr("bob@example.test")); });
  write(delivery_op(d));

  storage::ReadTxn t(env());
  EXPECT_FALSE(storage::find_user(t, "bob@example.test").has_value());
  EXPECT_TRUE(storage::list_messages(t, "bob@example.test").empty());
  auto alice = storage::list_messages(t, "alice@example.test");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(storage::blob_refcount(t, alice[0].blob_id), 1u);
  EXPECT_EQ(blob_count(), 1u);
}

TEST_F(DeliveryTest, NobodyLeftIsAnErrorAndStoresNothing) {
  auto d = delivery({"bob@example.test"}, {}, body);
  write([](storage::WriteTxn& t) { return storage::del_user(t, test::addr("bob@example.test")); });
  Status s = try_write(delivery_op(d));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  EXPECT_EQ(blob_count(), 0u);
  storage::ReadTxn t(env());
  EXPECT_TRUE(storage::list_queue(t).empty());
}

// Issue 11 item 7: the quota is enforced in the commit (concurrent sessions
// all passed RCPT against the same usage), with a grace of one message.
TEST_F(DeliveryTest, QuotaAtCommitLetsTheCrossingMessageLandAndRefusesTheNext) {
  write([](storage::WriteTxn& t) { return storage::set_quota(t, test::addr("alice@example.test"), 10); });
  write(delivery_op(delivery({"alice@example.test"}, {}, body)));  // crosses the line: delivered
  Status s = try_write(delivery_op(delivery({"alice@example.test"}, {}, body)));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::over_quota);
  storage::ReadTxn t(env());
  EXPECT_EQ(storage::list_messages(t, "alice@example.test").size(), 1u);
  EXPECT_EQ(blob_count(), 1u);
  EXPECT_TRUE(storage::list_queue(t).empty());
}

TEST_F(DeliveryTest, FullMailboxAtCommitBesideOthersGetsABounce) {
  write([](storage::WriteTxn& t) { return storage::set_quota(t, test::addr("alice@example.test"), 10); });
  write(delivery_op(delivery({"alice@example.test"}, {}, body)));
  auto d = delivery({"alice@example.test", "bob@example.test"}, {}, body);
  d->hostname = "mail.example.test";
  write(delivery_op(d));
  storage::ReadTxn t(env());
  EXPECT_EQ(storage::list_messages(t, "alice@example.test").size(), 1u);
  EXPECT_EQ(storage::list_messages(t, "bob@example.test").size(), 1u);
  // The bounce goes to the (remote) sender from the null sender.
  auto queue = storage::list_queue(t);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].sender, "");
  ASSERT_EQ(queue[0].recipients.size(), 1u);
  EXPECT_EQ(queue[0].recipients[0].address, "sender@remote.test");
  auto dsn = storage::read_blob(t, queue[0].blob_id);
  ASSERT_TRUE(dsn);
  EXPECT_NE(dsn->find("Final-Recipient: rfc822; alice@example.test"), std::string::npos) << *dsn;
  EXPECT_NE(dsn->find("Status: 5.2.2"), std::string::npos) << *dsn;
}

TEST_F(DeliveryTest, NoBounceToTheNullSenderForAFullMailbox) {
  write([](storage::WriteTxn& t) { return storage::set_quota(t, test::addr("alice@example.test"), 10); });
  write(delivery_op(delivery({"alice@example.test"}, {}, body)));
  write(delivery_op(delivery({"alice@example.test", "bob@example.test"}, {}, body, "")));
  storage::ReadTxn t(env());
  EXPECT_EQ(storage::list_messages(t, "bob@example.test").size(), 1u);
  EXPECT_TRUE(storage::list_queue(t).empty());
}

TEST_F(DeliveryTest, RetriedInASecondTransactionLeavesOneCopy) {
  auto d = delivery({"alice@example.test", "bob@example.test"}, {"x@remote.test"}, body);
  storage::Writer::Op op = delivery_op(d);
  {
    // The writer's first attempt: the batch fails elsewhere and is aborted.
    storage::WriteTxn first(env());
    Status s = op(first);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  write(op);

  storage::ReadTxn t(env());
  auto alice = storage::list_messages(t, "alice@example.test");
  auto bob = storage::list_messages(t, "bob@example.test");
  ASSERT_EQ(alice.size(), 1u);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(alice[0].uid, 1u);
  auto queue = storage::list_queue(t);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(blob_count(), 1u);
  EXPECT_EQ(storage::blob_refcount(t, alice[0].blob_id), 3u);
  const std::string alice_copy = prefix("sender@remote.test", "alice@example.test") + d->header + body;
  EXPECT_EQ(storage::read_message(t, "alice@example.test", alice[0].uid), alice_copy);
  auto stat = storage::mailbox_stat(t, "alice@example.test");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->messages, 1u);
  EXPECT_EQ(stat->bytes, alice_copy.size());
}

TEST_F(DeliveryTest, ThroughTheGroupCommitWriter) {
  auto d = delivery({"alice@example.test"}, {}, body);
  Status s = storage::wait_for([&](storage::Done done) { store().deliver(storage_delivery(d), done); });
  ASSERT_TRUE(s.ok()) << s.error().message;
  storage::ReadTxn t(env());
  EXPECT_EQ(storage::list_messages(t, "alice@example.test").size(), 1u);
}

}  // namespace
}  // namespace aviary::smtpd
