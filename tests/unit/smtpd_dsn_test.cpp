// smtpd_dsn_test.cpp - the bounce (RFC 3464 inside RFC 3462's
// multipart/report) and how it reaches the sender: into the mailbox when the
// sender is hosted, to the queue otherwise, with the null sender.
#include "smtpd/dsn.hpp"

#include <gtest/gtest.h>

#include "smtpd/delivery.hpp"
#include "storage/blob.hpp"
#include "storage/mailbox.hpp"
#include "storage/queue.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::smtpd {
namespace {

const std::string original =
    "Received: from x\r\n\tby mail.a.test; Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    "From: alice@a.test\r\nTo: bob@b.test\r\nSubject: lunch\r\nMessage-ID: <m1@a.test>\r\n\r\n"
    "The body stays home.\r\n";

BounceFacts facts() {
  BounceFacts f;
  f.hostname = "mail.a.test";
  f.sender = "alice@a.test";
  f.queue_id = "Q1";
  f.bounce_id = "B1";
  f.arrival = 1'795'860'000;
  f.now = 1'795'863'600;
  f.recipients.push_back({"bob@b.test", "5.1.1", "550 5.1.1 <bob@b.test>: no such user", true, "mx.b.test[127.0.0.3]"});
  f.recipients.push_back({"carol@c.test", "5.1.10", "Domain c.test does not accept mail (null MX)", false, ""});
  return f;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\r\n" + line + "\r\n") != std::string::npos;
}

TEST(Dsn, HeadersFromMailerDaemonToTheSender) {
  std::string m = build_dsn(facts(), original);
  EXPECT_TRUE(m.starts_with("From: Mail Delivery System <MAILER-DAEMON@mail.a.test>\r\n"));
  EXPECT_TRUE(has_line(m, "To: <alice@a.test>"));
  EXPECT_TRUE(has_line(m, "Auto-Submitted: auto-replied"));
  EXPECT_TRUE(has_line(m, "MIME-Version: 1.0"));
  EXPECT_TRUE(has_line(m, "Message-ID: <B1@mail.a.test>"));
  EXPECT_NE(m.find("Content-Type: multipart/report; report-type=delivery-status;"), std::string::npos);
}

TEST(Dsn, DeliveryStatusFieldsPerRecipient) {
  std::string m = build_dsn(facts(), original);
  EXPECT_TRUE(has_line(m, "Content-Type: message/delivery-status"));
  EXPECT_TRUE(has_line(m, "Reporting-MTA: dns; mail.a.test"));
  EXPECT_TRUE(has_line(m, "Final-Recipient: rfc822; bob@b.test"));
  EXPECT_TRUE(has_line(m, "Action: failed"));
  EXPECT_TRUE(has_line(m, "Status: 5.1.1"));
  EXPECT_TRUE(has_line(m, "Remote-MTA: dns; mx.b.test[127.0.0.3]"));
  EXPECT_TRUE(has_line(m, "Diagnostic-Code: smtp; 550 5.1.1 <bob@b.test>: no such user"));
  EXPECT_TRUE(has_line(m, "Final-Recipient: rfc822; carol@c.test"));
  EXPECT_TRUE(has_line(m, "Status: 5.1.10"));
  EXPECT_NE(m.find("Diagnostic-Code: X-Aviary; Domain c.test does not accept mail"), std::string::npos);
}

TEST(Dsn, ReturnsTheOriginalHeadersNotTheBody) {
  std::string m = build_dsn(facts(), original);
  EXPECT_TRUE(has_line(m, "Content-Type: text/rfc822-headers"));
  EXPECT_TRUE(has_line(m, "Subject: lunch"));
  EXPECT_TRUE(has_line(m, "Message-ID: <m1@a.test>"));
  EXPECT_EQ(m.find("The body stays home."), std::string::npos);
}

TEST(Dsn, PartsAreDelimitedAndClosed) {
  std::string m = build_dsn(facts(), original);
  const std::string boundary = "B1/mail.a.test";
  EXPECT_NE(m.find("boundary=\"" + boundary + "\""), std::string::npos);
  std::size_t parts = 0;
  for (std::size_t at = m.find("\r\n--" + boundary + "\r\n"); at != std::string::npos;
       at = m.find("\r\n--" + boundary + "\r\n", at + 1))
    ++parts;
  EXPECT_EQ(parts, 3u);
  EXPECT_TRUE(m.ends_with("\r\n--" + boundary + "--\r\n"));
}

TEST(Dsn, EveryLineEndsInCrlfAndStaysShort) {
  auto f = facts();
  f.recipients[0].diagnostic = "550 5.1.1 " + std::string(3000, 'x') + "\r\nInjected: header";
  std::string m = build_dsn(f, original);
  std::size_t start = 0;
  while (start < m.size()) {
    std::size_t end = m.find("\r\n", start);
    ASSERT_NE(end, std::string::npos) << "unterminated last line";
    EXPECT_LE(end - start, 998u);
    EXPECT_EQ(m.substr(start, end - start).find('\n'), std::string::npos);
    start = end + 2;
  }
  EXPECT_FALSE(has_line(m, "Injected: header"));
}

TEST(Dsn, InternationalAddressesUseTheGlobalTypes) {
  auto f = facts();
  f.recipients[0].address = "jösé@b.test";
  std::string m = build_dsn(f, original);
  EXPECT_TRUE(has_line(m, "Content-Type: message/global-delivery-status"));
  EXPECT_TRUE(has_line(m, "Final-Recipient: utf-8; jösé@b.test"));
}

TEST(HeaderSection, StopsAtTheEmptyLineOrTheLimit) {
  EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\nbody", 1000), "A: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\nbody", 9), "A: 1\r\n");
}

TEST(ReceivedCount, CountsOnlyHeaderFields) {
  std::string m;
  for (int i = 0; i < 51; ++i) m += "Received: from hop" + std::to_string(i) + "\r\n";
  m += "RECEIVED: shouting\r\nSubject: x\r\n\r\nReceived: in the body\r\n";
  EXPECT_EQ(received_count(m), 52u);
  EXPECT_GT(received_count(m), max_received_headers);
}

class DeliverGenerated : public test::StoreTest {};

TEST_F(DeliverGenerated, HostedSenderGetsItInTheMailboxFromTheNullSender) {
  add_domain("a.test");
  add_user("alice@a.test");
  std::size_t copies = 0;
  write([&](storage::WriteTxn& t) -> Status {
    copies = deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "alice@a.test", 1000, "B1");
    return {};
  });
  EXPECT_EQ(copies, 1u);
  storage::ReadTxn txn(env());
  auto list = storage::list_messages(txn, "alice@a.test");
  ASSERT_EQ(list.size(), 1u);
  auto text = storage::read_message(txn, "alice@a.test", list.front().uid);
  ASSERT_TRUE(text);
  EXPECT_TRUE(text->starts_with("Return-Path: <>\r\nDelivered-To: alice@a.test\r\n"));
  EXPECT_TRUE(storage::list_queue(txn).empty());
}

TEST_F(DeliverGenerated, RemoteSenderGetsItThroughTheQueueWithTheNullSender) {
  add_domain("a.test");
  write([&](storage::WriteTxn& t) -> Status {
    EXPECT_EQ(deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "zed@far.test", 1000, "B2"), 1u);
    return {};
  });
  storage::ReadTxn txn(env());
  auto queue = storage::list_queue(txn);
  ASSERT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue[0].sender, "");
  EXPECT_EQ(queue[0].message_id, "B2");
  ASSERT_EQ(queue[0].recipients.size(), 1u);
  EXPECT_EQ(queue[0].recipients[0].address, "zed@far.test");
}

TEST_F(DeliverGenerated, UnknownHostedSenderGetsNothingAndLeavesNoBlob) {
  add_domain("a.test");
  write([&](storage::WriteTxn& t) -> Status {
    EXPECT_EQ(deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "ghost@a.test", 1000, "B3"), 0u);
    return {};
  });
  storage::ReadTxn txn(env());
  EXPECT_TRUE(storage::list_queue(txn).empty());
  EXPECT_FALSE(storage::read_blob(txn, 1).has_value());
}

}  // namespace
}  // namespace aviary::smtpd
