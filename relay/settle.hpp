// settle.hpp - the end of a round of attempts at a queue entry, decided
// without I/O: which recipients are done, when the entry is tried again or
// whether it goes, and the bounce to its sender.
//
// Runs on the entry as committed, which an administrator may have changed
// since the round read it: only recipients still pending take the round's
// outcomes. Pure: the store may run it more than once for one commit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "relay/dsn.hpp"
#include "storage/store.hpp"

namespace aviary::relay {

// What one round of attempts found for the recipients it tried.
struct RoundResult {
  std::map<std::string, std::string> delivered;  // address -> the peer that took it
  std::map<std::string, std::string> deferred;   // address -> why not yet
  std::vector<FailedRecipient> failed;           // for good
};

struct SettleFacts {
  std::int64_t now = 0;
  const Config::Relay& relay;  // the retry schedule and relay.max_queue_time
  std::string_view hostname;   // ours, for the bounce
  std::string_view bounce_id;  // the bounce's id, if there is one
  // The queued message's header section, returned in the bounce; only read
  // when `needs_original` says a bounce may come of the round.
  std::string_view original;
};

// Marks the recipients of `delivered` that are still pending as delivered.
// The relay writes this as soon as a next hop has taken them: a crash later
// in the round must not send them the message again.
void mark_delivered(storage::QueueEntry& entry, const std::map<std::string, std::string>& delivered);

// Applies the round to `entry` (statuses, diagnostics, one more attempt, the
// next attempt from relay.retry), gives up on what is still pending after
// relay.max_queue_time (4.4.7), and builds the bounce for the recipients
// that failed now, unless the sender is the null sender (RFC 5321 §6.1).
// The entry goes once no recipient is pending. A storage::QueueDecision.
storage::QueueChange settle_entry(storage::QueueEntry& entry, const RoundResult& round, const SettleFacts& facts);

// Whether settling the round may bounce, so that the caller reads the
// original header section first (the entry's sender and age do not change).
bool needs_original(const storage::QueueEntry& entry, const RoundResult& round, std::int64_t now,
                    const Config::Relay& relay);

}  // namespace aviary::relay
