// relay_dsn_test.cpp - the bounce (RFC 3464 inside RFC 3462's
// multipart/report) and how it reaches the sender: into the mailbox when the
// sender is hosted, to the queue otherwise, with the null sender.
#include "common/header.hpp"
#include "relay/dsn.hpp"

#include <gtest/gtest.h>

#include "storage/lmdb/generated.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::relay {
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
  // RFC 3464 §2.3.5: a DNS name, never "name[ip]" (the text part keeps the address).
  EXPECT_TRUE(has_line(m, "Remote-MTA: dns; mx.b.test"));
  EXPECT_EQ(m.find("Remote-MTA: dns; mx.b.test["), std::string::npos);
  EXPECT_NE(m.find("host mx.b.test[127.0.0.3] said: 550 5.1.1"), std::string::npos);
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

// Every line of a bounce: CRLF-terminated, at most 998 octets, no bare CR
// or LF, and (for a us-ascii report) nothing but printable ASCII and TAB.
void expect_well_formed(const std::string& m, bool ascii) {
  std::size_t start = 0;
  while (start < m.size()) {
    std::size_t end = m.find("\r\n", start);
    ASSERT_NE(end, std::string::npos) << "unterminated last line";
    std::string line = m.substr(start, end - start);
    EXPECT_LE(line.size(), 998u);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << line;
    if (ascii) {
      for (char c : line) {
        auto u = static_cast<unsigned char>(c);
        EXPECT_TRUE((u >= 0x20 && u < 0x7F) || u == '\t') << "octet " << int(u) << " in: " << line;
      }
    }
    start = end + 2;
  }
}

TEST(Dsn, HostileRemoteNameAndReplyInjectNothing) {
  // Issue 11 item 24: an MX name from DNS with CR LF in it went into the
  // text part as "host <name> said:", starting a line of its own.
  auto f = facts();
  f.recipients[0].remote_mta = "mx\r\nX-Injected: yes\r\n.b.test[127.0.0.3]";
  f.recipients[0].diagnostic = "550 5.1.1 no\rX-Injected: cr\nX-Injected: lf \x01\x7f\xff\xc3(";
  std::string m = build_dsn(f, original);
  expect_well_formed(m, true);
  EXPECT_EQ(m.find("\r\nX-Injected"), std::string::npos);
  EXPECT_NE(m.find("host mx  X-Injected: yes  .b.test[127.0.0.3] said: 550 5.1.1 no X-Injected: cr X-Injected: lf \?\?\?\?("),
            std::string::npos);
  // Not a DNS name: no Remote-MTA at all.
  EXPECT_EQ(m.find("Remote-MTA:"), std::string::npos);
}

TEST(Dsn, LongAddressAndNameKeepTheTextLineShort) {
  auto f = facts();
  f.recipients[0].address = std::string(64, 'l') + "@" + std::string(180, 'd') + ".test";
  f.recipients[0].remote_mta = std::string(250, 'h') + "[127.0.0.3]";
  f.recipients[0].diagnostic = "550 " + std::string(2000, 'x');
  expect_well_formed(build_dsn(f, original), true);
}

TEST(Dsn, RemoteMtaOnlyForDnsNames) {
  EXPECT_EQ(remote_mta_name("mx.b.test[127.0.0.3]"), "mx.b.test");
  EXPECT_EQ(remote_mta_name("mx.b.test"), "mx.b.test");
  EXPECT_EQ(remote_mta_name("mx.b.test.[2001:db8::1]"), "mx.b.test");
  EXPECT_EQ(remote_mta_name("127.0.0.3[127.0.0.3]"), "");  // a route to an address
  EXPECT_EQ(remote_mta_name("[127.0.0.3]"), "");
  EXPECT_EQ(remote_mta_name("2001:db8::1[2001:db8::1]"), "");
  EXPECT_EQ(remote_mta_name("mx\r\nX: y.b.test[127.0.0.3]"), "");
  EXPECT_EQ(remote_mta_name(""), "");
}

TEST(Dsn, AddressOnlyPeerHasNoRemoteMta) {
  auto f = facts();
  f.recipients[0].remote_mta = "192.0.2.9[192.0.2.9]";
  std::string m = build_dsn(f, original);
  EXPECT_EQ(m.find("Remote-MTA:"), std::string::npos);
  EXPECT_NE(m.find("host 192.0.2.9[192.0.2.9] said:"), std::string::npos);
}

TEST(CleanRemoteText, Table) {
  struct Case {
    std::string in;
    bool utf8;
    std::size_t max;
    std::string out;
  } cases[] = {
      {"250 ok", false, 900, "250 ok"},
      {"a\r\nb", false, 900, "a  b"},
      {"a\rb\nc\td", false, 900, "a b c d"},
      {std::string("nul\0bell\a", 9), false, 900, "nul?bell?"},
      {"del\x7f", false, 900, "del?"},
      {"caf\xc3\xa9", false, 900, "caf??"},           // 8-bit in a us-ascii part
      {"caf\xc3\xa9", true, 900, "caf\xc3\xa9"},      // valid UTF-8 in a global one
      {"\xc3(", true, 900, "?("},                      // a broken sequence
      {"\xc0\xaf", true, 900, "??"},                  // overlong "/"
      {"\xed\xa0\x80", true, 900, "???"},            // a surrogate
      {"\xf4\x90\x80\x80", true, 900, "????"},      // above U+10FFFF
      {"\xf0\x9f\x93\xa7 mail", true, 900, "\xf0\x9f\x93\xa7 mail"},
      {"abcdef", false, 4, "abcd"},
      {"ab\xc3\xa9", true, 3, "ab"},                 // never half a character
  };
  for (const auto& c : cases) EXPECT_EQ(clean_remote_text(c.in, c.utf8, c.max), c.out) << c.in;
}

TEST(Dsn, InternationalAddressesUseTheGlobalTypes) {
  auto f = facts();
  f.recipients[0].address = "jösé@b.test";
  std::string m = build_dsn(f, original);
  EXPECT_TRUE(has_line(m, "Content-Type: message/global-delivery-status"));
  EXPECT_TRUE(has_line(m, "Final-Recipient: utf-8; jösé@b.test"));
}

TEST(HeaderSection, StopsAtTheEmptyLineOrTheLimit) {
  EXPECT_EQ(header::section("A: 1\r\nB: 2\r\n\r\nbody", 1000), "A: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(header::section("A: 1\r\nB: 2\r\n\r\nbody", 9), "A: 1\r\n");
}

TEST(ReceivedCount, CountsOnlyHeaderFields) {
  std::string m;
  for (int i = 0; i < 51; ++i) m += "Received: from hop" + std::to_string(i) + "\r\n";
  m += "RECEIVED: shouting\r\nSubject: x\r\n\r\nReceived: in the body\r\n";
  EXPECT_EQ(header::received_count(m), 52u);
}

class DeliverGenerated : public test::StoreTest {};

TEST_F(DeliverGenerated, HostedSenderGetsItInTheMailboxFromTheNullSender) {
  add_domain("a.test");
  add_user("alice@a.test");
  std::size_t copies = 0;
  write([&](storage::WriteTxn& t) -> Status {
    copies = storage::deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "alice@a.test", 1000, "B1");
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
    EXPECT_EQ(storage::deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "zed@far.test", 1000, "B2"), 1u);
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
    EXPECT_EQ(storage::deliver_generated(t, "Subject: bounce\r\n\r\nx\r\n", "ghost@a.test", 1000, "B3"), 0u);
    return {};
  });
  storage::ReadTxn txn(env());
  EXPECT_TRUE(storage::list_queue(txn).empty());
  EXPECT_FALSE(storage::read_blob(txn, 1).has_value());
}

}  // namespace
}  // namespace aviary::relay
