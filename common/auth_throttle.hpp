// auth_throttle.hpp - slows down password guessing from one address.
//
// Counts failed logins per client IP over a sliding window; an address
// with too many is refused outright until its failures age out. Shared by
// the POP3 and SMTP AUTH code; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aviary {

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  AuthThrottle(std::uint32_t max_failures, Clock::duration window) : max_failures_(max_failures), window_(window) {}

  bool throttled(const std::string& ip, Clock::time_point now = Clock::now());
  void failure(const std::string& ip, Clock::time_point now = Clock::now());

 private:
  void expire(std::deque<Clock::time_point>& times, Clock::time_point now) const;

  // Bounded memory under a storm from many addresses.
  static constexpr std::size_t max_addresses = 100000;

  std::mutex mutex_;
  std::uint32_t max_failures_;
  Clock::duration window_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace aviary
