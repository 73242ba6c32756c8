// auth_throttle.cpp - see auth_throttle.hpp.
#include "common/auth_throttle.hpp"

namespace aviary {

void AuthThrottle::expire(std::deque<Clock::time_point>& times, Clock::time_point now) const {
  while (!times.empty() && now - times.front() >= window_) times.pop_front();
}

bool AuthThrottle::throttled(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(ip);
  if (it == failures_.end()) return false;
  expire(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return false;
  }
  return it->second.size() >= max_failures_;
}

void AuthThrottle::failure(const std::string& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (failures_.size() >= max_addresses && !failures_.count(ip)) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      expire(it->second, now);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= max_addresses) failures_.erase(failures_.begin());
  }
  auto& times = failures_[ip];
  expire(times, now);
  times.push_back(now);
  if (times.size() > max_failures_) times.pop_front();
}

}  // namespace aviary
