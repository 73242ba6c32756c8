// relay_settle_test.cpp - settling a round of attempts at a queue entry:
// recipient states, the retry schedule, expiry after relay.max_queue_time,
// the bounce and who gets it, on an entry that may have changed meanwhile.
#include "relay/settle.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace aviary::relay {
namespace {

using namespace std::chrono_literals;
using storage::RecipientStatus;

constexpr std::int64_t created = 1'795'860'000;
const std::string original =
    "From: alice@a.test\r\nTo: bob@b.test\r\nSubject: lunch\r\nMessage-ID: <m1@a.test>\r\n\r\nThe body stays home.\r\n";

struct Rcpt {
  Rcpt(std::string a, RecipientStatus s = RecipientStatus::pending, std::string d = {})
      : address(std::move(a)), status(s), diagnostic(std::move(d)) {}
  std::string address;
  RecipientStatus status;
  std::string diagnostic;
};

struct Case {
  std::string name;
  // The entry as committed.
  std::string sender = "alice@a.test";
  std::vector<Rcpt> recipients;
  std::uint32_t attempts = 0;
  // The round, and when it ends.
  RoundResult round;
  std::int64_t now = created + 60;
  // What must come of it.
  bool remove = false;
  std::vector<Rcpt> after;
  std::optional<std::int64_t> next_attempt;  // nullopt: not checked (the entry goes)
  std::vector<std::pair<std::string, std::string>> bounced;  // address, status; empty: no bounce
};

FailedRecipient failure(std::string address, std::string status, std::string diagnostic) {
  return {std::move(address), std::move(status), std::move(diagnostic), true, "mx.b.test[127.0.0.3]"};
}

const std::string user_unknown = "550 5.1.1 no such user";
const std::string greylisted = "451 4.7.1 try again later";

std::vector<Case> cases() {
  std::vector<Case> c;
  {
    Case t;
    t.name = "AllDelivered";
    t.recipients = {{"bob@b.test"}, {"carol@b.test"}};
    t.round.delivered = {{"bob@b.test", "mx.b.test[127.0.0.3]"}, {"carol@b.test", "mx.b.test[127.0.0.3]"}};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::delivered, "delivered to mx.b.test[127.0.0.3]"},
               {"carol@b.test", RecipientStatus::delivered, "delivered to mx.b.test[127.0.0.3]"}};
    c.push_back(t);
  }
  {
    // The first failed attempt waits the schedule's first step.
    Case t;
    t.name = "DeferredWaitsTheFirstStep";
    t.recipients = {{"bob@b.test"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.after = {{"bob@b.test", RecipientStatus::pending, greylisted}};
    t.next_attempt = t.now + 60;
    c.push_back(t);
  }
  {
    // The third failed attempt waits the third step.
    Case t;
    t.name = "DeferredAgainWaitsTheNextStep";
    t.attempts = 2;
    t.recipients = {{"bob@b.test", RecipientStatus::pending, "old reason"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.after = {{"bob@b.test", RecipientStatus::pending, greylisted}};
    t.next_attempt = t.now + 15 * 60;
    c.push_back(t);
  }
  {
    Case t;
    t.name = "PermanentFailureBounces";
    t.recipients = {{"bob@b.test"}};
    t.round.failed = {failure("bob@b.test", "5.1.1", user_unknown)};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed, user_unknown}};
    t.bounced = {{"bob@b.test", "5.1.1"}};
    c.push_back(t);
  }
  {
    // Only what failed now is reported; the deferred recipient stays queued.
    Case t;
    t.name = "Mixed";
    t.recipients = {{"bob@b.test"}, {"carol@c.test"}, {"dave@d.test"}, {"erin@e.test", RecipientStatus::failed, "x"}};
    t.round.delivered = {{"bob@b.test", "mx.b.test[127.0.0.3]"}};
    t.round.deferred = {{"carol@c.test", greylisted}};
    t.round.failed = {failure("dave@d.test", "5.1.1", user_unknown)};
    t.after = {{"bob@b.test", RecipientStatus::delivered, "delivered to mx.b.test[127.0.0.3]"},
               {"carol@c.test", RecipientStatus::pending, greylisted},
               {"dave@d.test", RecipientStatus::failed, user_unknown},
               {"erin@e.test", RecipientStatus::failed, "x"}};
    t.next_attempt = t.now + 60;
    t.bounced = {{"dave@d.test", "5.1.1"}};
    c.push_back(t);
  }
  {
    // What is still pending after relay.max_queue_time fails with 4.4.7
    // and keeps its last error; what failed in this round is in the same bounce.
    Case t;
    t.name = "ExpiryBouncesWithTheLastError";
    t.attempts = 40;
    t.now = created + 5 * 86400;
    t.recipients = {{"bob@b.test"}, {"carol@c.test"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.round.failed = {failure("carol@c.test", "5.1.1", user_unknown)};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed,
                "delivery time expired after 432000s; last error: " + greylisted},
               {"carol@c.test", RecipientStatus::failed, user_unknown}};
    t.bounced = {{"carol@c.test", "5.1.1"}, {"bob@b.test", "4.4.7"}};
    c.push_back(t);
  }
  {
    // A recipient the round did not try (another hop's job was lost) still
    // expires; without an error there is none to quote.
    Case t;
    t.name = "ExpiryWithoutAnError";
    t.attempts = 40;
    t.now = created + 5 * 86400 + 1;
    t.recipients = {{"bob@b.test"}};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed, "delivery time expired after 432000s"}};
    t.bounced = {{"bob@b.test", "4.4.7"}};
    c.push_back(t);
  }
  {
    // Close to the expiry the next attempt is at the expiry, for the bounce.
    Case t;
    t.name = "NextAttemptNoLaterThanTheExpiry";
    t.attempts = 10;
    t.now = created + 5 * 86400 - 600;
    t.recipients = {{"bob@b.test"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.after = {{"bob@b.test", RecipientStatus::pending, greylisted}};
    t.next_attempt = created + 5 * 86400;
    c.push_back(t);
  }
  {
    // RFC 5321 §6.1: a bounce is never bounced.
    Case t;
    t.name = "NullSenderGetsNoBounce";
    t.sender = "";
    t.recipients = {{"bob@b.test"}};
    t.round.failed = {failure("bob@b.test", "5.1.1", user_unknown)};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed, user_unknown}};
    c.push_back(t);
  }
  {
    Case t;
    t.name = "NullSenderExpiresWithoutBounce";
    t.sender = "";
    t.now = created + 5 * 86400;
    t.recipients = {{"bob@b.test"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed,
                "delivery time expired after 432000s; last error: " + greylisted}};
    c.push_back(t);
  }
  {
    // The job's early write already marked bob delivered; carol was
    // removed by an administrator: neither takes the round's outcome.
    Case t;
    t.name = "EntryChangedMeanwhile";
    t.recipients = {{"bob@b.test", RecipientStatus::delivered, "delivered to mx.b.test[127.0.0.3]"}, {"dave@d.test"}};
    t.round.failed = {failure("bob@b.test", "5.1.1", user_unknown), failure("carol@c.test", "5.1.1", user_unknown)};
    t.round.deferred = {{"dave@d.test", greylisted}};
    t.after = {{"bob@b.test", RecipientStatus::delivered, "delivered to mx.b.test[127.0.0.3]"},
               {"dave@d.test", RecipientStatus::pending, greylisted}};
    t.next_attempt = t.now + 60;
    c.push_back(t);
  }
  {
    // An administrator failed the last pending recipient meanwhile: the
    // entry goes, and nobody is bounced for it by the relay.
    Case t;
    t.name = "NothingLeftPending";
    t.recipients = {{"bob@b.test", RecipientStatus::failed, "removed"}};
    t.round.deferred = {{"bob@b.test", greylisted}};
    t.remove = true;
    t.after = {{"bob@b.test", RecipientStatus::failed, "removed"}};
    c.push_back(t);
  }
  return c;
}

class SettleEntry : public testing::TestWithParam<Case> {};

TEST_P(SettleEntry, Table) {
  const Case& t = GetParam();
  Config::Relay relay;
  relay.retry = {1min, 5min, 15min, 1h};
  relay.max_queue_time = 5 * 24h;
  storage::QueueEntry entry;
  entry.id = 7;
  entry.message_id = "Q1";
  entry.sender = t.sender;
  entry.created = created;
  entry.attempts = t.attempts;
  for (const auto& r : t.recipients) entry.recipients.push_back({r.address, r.status, r.diagnostic});

  SettleFacts facts{t.now, relay, "mail.a.test", "B1", original};
  storage::QueueChange s = settle_entry(entry, t.round, facts);

  EXPECT_EQ(s.action, t.remove ? storage::QueueChange::Action::remove : storage::QueueChange::Action::update);
  EXPECT_EQ(entry.attempts, t.attempts + 1);
  if (t.next_attempt) {
    EXPECT_EQ(entry.next_attempt, *t.next_attempt);
  }
  ASSERT_EQ(entry.recipients.size(), t.after.size());
  for (std::size_t i = 0; i < t.after.size(); ++i) {
    SCOPED_TRACE(t.after[i].address);
    EXPECT_EQ(entry.recipients[i].address, t.after[i].address);
    EXPECT_EQ(entry.recipients[i].status, t.after[i].status);
    EXPECT_EQ(entry.recipients[i].diagnostic, t.after[i].diagnostic);
  }
  if (t.bounced.empty()) {
    EXPECT_FALSE(s.bounce);
    return;
  }
  ASSERT_TRUE(s.bounce);
  EXPECT_EQ(s.bounce->to, t.sender);
  EXPECT_EQ(s.bounce->id, "B1");
  EXPECT_EQ(s.bounce->now, t.now);
  const std::string& m = s.bounce->message;
  EXPECT_NE(m.find("Message-ID: <B1@mail.a.test>\r\n"), std::string::npos);
  EXPECT_NE(m.find("X-Aviary-Queue-ID: Q1\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: lunch\r\n"), std::string::npos);  // the original header section
  EXPECT_EQ(m.find("The body stays home."), std::string::npos);
  std::size_t reported = 0;
  for (std::size_t at = 0; (at = m.find("Final-Recipient: ", at)) != std::string::npos; ++at) ++reported;
  EXPECT_EQ(reported, t.bounced.size());
  for (const auto& [address, status] : t.bounced) {
    SCOPED_TRACE(address);
    auto at = m.find("Final-Recipient: rfc822; " + address + "\r\nAction: failed\r\nStatus: " + status + "\r\n");
    EXPECT_NE(at, std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Rounds, SettleEntry, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(SettleMarkDelivered, OnlyPendingRecipientsAndNamesThePeer) {
  storage::QueueEntry entry;
  entry.recipients = {{"bob@b.test", RecipientStatus::pending, "451 later"},
                      {"carol@c.test", RecipientStatus::failed, "550 no"},
                      {"dave@d.test", RecipientStatus::pending, ""}};
  mark_delivered(entry, {{"bob@b.test", "mx.b.test[127.0.0.3]"}, {"carol@c.test", "mx.c.test[127.0.0.4]"}});
  EXPECT_EQ(entry.recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(entry.recipients[0].diagnostic, "delivered to mx.b.test[127.0.0.3]");
  EXPECT_EQ(entry.recipients[1].status, RecipientStatus::failed);
  EXPECT_EQ(entry.recipients[1].diagnostic, "550 no");
  EXPECT_EQ(entry.recipients[2].status, RecipientStatus::pending);
  EXPECT_EQ(entry.attempts, 0u);
}

TEST(SettleNeedsOriginal, OnlyWhenABounceMayCome) {
  Config::Relay relay;
  relay.max_queue_time = 1h;
  storage::QueueEntry entry;
  entry.sender = "alice@a.test";
  entry.created = created;
  RoundResult deferred, failed;
  deferred.deferred = {{"bob@b.test", greylisted}};
  failed.failed = {failure("bob@b.test", "5.1.1", user_unknown)};
  EXPECT_FALSE(needs_original(entry, deferred, created + 60, relay));
  EXPECT_TRUE(needs_original(entry, failed, created + 60, relay));
  EXPECT_TRUE(needs_original(entry, deferred, created + 3600, relay));
  entry.sender = "";
  EXPECT_FALSE(needs_original(entry, failed, created + 3600, relay));
}

}  // namespace
}  // namespace aviary::relay
