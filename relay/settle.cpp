// settle.cpp - see settle.hpp.
#include "relay/settle.hpp"

#include <algorithm>

#include "relay/retry.hpp"

namespace aviary::relay {
namespace {

using storage::RecipientStatus;

bool any_pending(const storage::QueueEntry& entry) {
  return std::any_of(entry.recipients.begin(), entry.recipients.end(),
                     [](const storage::QueueRecipient& r) { return r.status == RecipientStatus::pending; });
}

// Gives up on every recipient still pending: the entry is too old.
void expire(storage::QueueEntry& entry, const Config::Relay& relay, std::vector<FailedRecipient>& failed) {
  for (auto& r : entry.recipients) {
    if (r.status != RecipientStatus::pending) continue;
    r.status = RecipientStatus::failed;
    std::string why = "delivery time expired after " + std::to_string(relay.max_queue_time.count()) + "s";
    if (!r.diagnostic.empty()) why += "; last error: " + r.diagnostic;
    r.diagnostic = why;
    failed.push_back({r.address, "4.4.7", why, false, ""});
  }
}

}  // namespace

void mark_delivered(storage::QueueEntry& entry, const std::map<std::string, std::string>& delivered) {
  for (auto& r : entry.recipients) {
    if (r.status != RecipientStatus::pending) continue;
    if (auto d = delivered.find(r.address); d != delivered.end()) {
      r.status = RecipientStatus::delivered;
      r.diagnostic = "delivered to " + d->second;
    }
  }
}

storage::QueueChange settle_entry(storage::QueueEntry& entry, const RoundResult& round, const SettleFacts& facts) {
  mark_delivered(entry, round.delivered);
  std::vector<FailedRecipient> failed;
  for (auto& r : entry.recipients) {
    if (r.status != RecipientStatus::pending) continue;
    auto f = std::find_if(round.failed.begin(), round.failed.end(),
                          [&](const FailedRecipient& x) { return x.address == r.address; });
    if (f != round.failed.end()) {
      r.status = RecipientStatus::failed;
      r.diagnostic = f->diagnostic;
      failed.push_back(*f);
    } else if (auto d = round.deferred.find(r.address); d != round.deferred.end()) {
      r.diagnostic = d->second;
    }
  }
  ++entry.attempts;
  storage::QueueChange out;
  if (any_pending(entry) && expired(entry.created, facts.now, facts.relay.max_queue_time)) expire(entry, facts.relay, failed);
  if (any_pending(entry)) {
    const auto& relay = facts.relay;
    entry.next_attempt = next_attempt(relay.retry, entry.attempts, facts.now, entry.created, relay.max_queue_time);
  } else {
    out.action = storage::QueueChange::Action::remove;
  }
  // RFC 5321 §6.1, RFC 3464 §2: never a bounce to the null sender.
  if (!failed.empty() && !entry.sender.empty()) {
    BounceFacts bounce{std::string(facts.hostname), entry.sender, entry.message_id, std::string(facts.bounce_id),
                       entry.created, facts.now, failed};
    out.bounce = storage::Generated{build_dsn(bounce, facts.original), entry.sender, std::string(facts.bounce_id), facts.now};
  }
  return out;
}

bool needs_original(const storage::QueueEntry& entry, const RoundResult& round, std::int64_t now,
                    const Config::Relay& relay) {
  return !entry.sender.empty() && (!round.failed.empty() || expired(entry.created, now, relay.max_queue_time));
}

}  // namespace aviary::relay
