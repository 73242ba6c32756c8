// auth_throttle.cpp - see auth_throttle.hpp.
#include "common/auth_throttle.hpp"

#include "common/admission.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace aviary {

ThrottleClock::duration failure_penalty(std::uint64_t failures, ThrottleClock::duration base,
                                        ThrottleClock::duration cap) {
  if (failures == 0 || base <= ThrottleClock::duration::zero() || cap <= ThrottleClock::duration::zero()) {
    return ThrottleClock::duration::zero();
  }
  ThrottleClock::duration delay = std::min(base, cap);
  // Doubling stops at the cap, long before the duration could overflow.
  for (std::uint64_t i = 1; i < failures && delay < cap; ++i) delay = std::min(delay * 2, cap);
  return delay;
}

AuthThrottle::AuthThrottle(ThrottlePolicy policy) : policy_(policy) {
  policy_.window = std::max(policy_.window, Clock::duration(slots - 1));  // slots of at least a tick
}

std::int64_t AuthThrottle::slot_of(Clock::time_point t) const {
  return t.time_since_epoch() / (policy_.window / static_cast<int>(slots - 1));
}

std::uint64_t AuthThrottle::count(Failures& f, Clock::time_point now) const {
  std::int64_t current = slot_of(now);
  if (current > f.newest) {
    // The slots between the newest and now held failures that aged out.
    std::int64_t stale = std::min<std::int64_t>(current - f.newest, slots);
    for (std::int64_t s = current - stale + 1; s <= current; ++s) f.counts[s % slots] = 0;
    f.newest = current;
  }
  return std::accumulate(f.counts.begin(), f.counts.end(), std::uint64_t{0});
}

AuthThrottle::Clock::duration AuthThrottle::wait(Failures& f, std::uint64_t failures, Clock::time_point now) const {
  // Dovecot's rule: the penalty runs from the last failure, not from now.
  Clock::time_point until = f.last + failure_penalty(failures, policy_.base_delay, policy_.max_delay);
  return until > now ? until - now : Clock::duration::zero();
}

AuthThrottle::Verdict AuthThrottle::check(std::string_view ip, std::string_view account, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Verdict verdict;
  if (auto it = addresses_.find(admission::client_key(ip)); it != addresses_.end()) {
    std::uint64_t n = count(it->second, now);
    if (n == 0) {
      addresses_.erase(it);
    } else {
      verdict.banned = n >= policy_.ban_threshold;
      verdict.wait = wait(it->second, n, now);
    }
  }
  if (auto it = accounts_.find(std::string(account)); it != accounts_.end()) {
    std::uint64_t n = count(it->second, now);
    if (n == 0) {
      accounts_.erase(it);
    } else {
      verdict.wait = std::max(verdict.wait, wait(it->second, n, now));
    }
  }
  return verdict;
}

void AuthThrottle::add(Table& table, const std::string& key, Clock::time_point now) {
  if (table.size() >= max_keys && !table.count(key)) {
    for (auto it = table.begin(); it != table.end();) it = count(it->second, now) == 0 ? table.erase(it) : std::next(it);
    if (table.size() >= max_keys) table.erase(table.begin());
  }
  Failures& f = table[key];
  count(f, now);  // brings the slots up to now
  std::uint32_t& slot = f.counts[f.newest % slots];  // the current slot (times never go back in practice)
  if (slot < std::numeric_limits<std::uint32_t>::max()) ++slot;
  f.last = std::max(f.last, now);
}

void AuthThrottle::failure(std::string_view ip, std::string_view account, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  add(addresses_, admission::client_key(ip), now);
  add(accounts_, std::string(account), now);
}

void AuthThrottle::success(std::string_view account) {
  std::lock_guard lock(mutex_);
  accounts_.erase(std::string(account));
}

bool AuthThrottle::try_begin(std::string_view ip) {
  std::lock_guard lock(mutex_);
  std::uint32_t& n = in_flight_[admission::client_key(ip)];
  if (n >= std::max<std::uint32_t>(1, policy_.max_in_flight)) return false;
  ++n;
  return true;
}

void AuthThrottle::end(std::string_view ip) {
  std::lock_guard lock(mutex_);
  auto it = in_flight_.find(admission::client_key(ip));
  if (it == in_flight_.end()) return;
  if (--it->second == 0) in_flight_.erase(it);
}

}  // namespace aviary
