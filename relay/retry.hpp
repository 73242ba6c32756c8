// retry.hpp - when a deferred queue entry is tried again, and when it gives up.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace aviary::relay {

// The delay after the `attempts`-th failed attempt (1 = the first): the
// schedule's step for it, the last step repeating (relay.retry).
std::chrono::seconds retry_delay(const std::vector<std::chrono::seconds>& schedule, std::uint32_t attempts);

// The next attempt, never later than the moment the entry expires, so that
// the bounce for relay.max_queue_time goes out on time.
std::int64_t next_attempt(const std::vector<std::chrono::seconds>& schedule, std::uint32_t attempts,
                          std::int64_t now, std::int64_t created, std::chrono::seconds max_queue_time);

// Whether an entry created at `created` has been queued for too long.
bool expired(std::int64_t created, std::int64_t now, std::chrono::seconds max_queue_time);

}  // namespace aviary::relay
