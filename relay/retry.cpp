// retry.cpp - see retry.hpp.
#include "relay/retry.hpp"

#include <algorithm>

namespace aviary::relay {

std::chrono::seconds retry_delay(const std::vector<std::chrono::seconds>& schedule, std::uint32_t attempts) {
  if (schedule.empty()) return std::chrono::hours(4);
  std::size_t step = attempts == 0 ? 0 : std::min<std::size_t>(attempts - 1, schedule.size() - 1);
  return std::max(schedule[step], std::chrono::seconds(1));
}

std::int64_t next_attempt(const std::vector<std::chrono::seconds>& schedule, std::uint32_t attempts,
                          std::int64_t now, std::int64_t created, std::chrono::seconds max_queue_time) {
  std::int64_t next = now + retry_delay(schedule, attempts).count();
  return std::max(now, std::min(next, created + max_queue_time.count()));
}

bool expired(std::int64_t created, std::int64_t now, std::chrono::seconds max_queue_time) {
  return now - created >= max_queue_time.count();
}

}  // namespace aviary::relay
