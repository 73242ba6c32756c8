// auth_throttle_test.cpp - per-address failed-login throttling: the
// threshold, the sliding window, isolation between addresses, thread safety.
//
// Time is passed in explicitly, so nothing here sleeps.
#include "common/auth_throttle.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace aviary {
namespace {

using namespace std::chrono_literals;
using Clock = AuthThrottle::Clock;

const Clock::time_point t0 = Clock::time_point() + 1000h;
constexpr auto window = 15min;

// fail - n failures from ip at `at`.
void fail(AuthThrottle& throttle, const std::string& ip, int n, Clock::time_point at) {
  for (int i = 0; i < n; ++i) throttle.failure(ip, at);
}

// The threshold: refused from the max_failures-th failure on, not before.
struct ThresholdCase {
  const char* label;
  std::uint32_t max_failures;
  int failures;
  bool throttled;
};

void PrintTo(const ThresholdCase& c, std::ostream* os) { *os << c.label; }
std::string threshold_name(const testing::TestParamInfo<ThresholdCase>& info) { return info.param.label; }

const std::vector<ThresholdCase> threshold_cases = {
    {"no_failures", 10, 0, false},
    {"one_failure", 10, 1, false},
    {"one_below_threshold", 10, 9, false},
    {"at_threshold", 10, 10, true},
    {"past_threshold", 10, 25, true},
    {"threshold_one_none", 1, 0, false},
    {"threshold_one_reached", 1, 1, true},
    {"threshold_three_two", 3, 2, false},
    {"threshold_three_three", 3, 3, true},
};

class Threshold : public testing::TestWithParam<ThresholdCase> {};

TEST_P(Threshold, RefusesFromTheLimitOn) {
  const ThresholdCase& c = GetParam();
  AuthThrottle throttle(c.max_failures, window);
  fail(throttle, "192.0.2.1", c.failures, t0);
  EXPECT_EQ(throttle.throttled("192.0.2.1", t0), c.throttled);
  EXPECT_EQ(throttle.throttled("192.0.2.1", t0 + 1s), c.throttled);
}

INSTANTIATE_TEST_SUITE_P(Table, Threshold, testing::ValuesIn(threshold_cases), threshold_name);

TEST(AuthThrottle, UnknownAddressIsNeverThrottled) {
  AuthThrottle throttle(1, window);
  EXPECT_FALSE(throttle.throttled("192.0.2.1", t0));
  EXPECT_FALSE(throttle.throttled("", t0));
}

TEST(AuthThrottle, AddressesAreCountedSeparately) {
  AuthThrottle throttle(3, window);
  fail(throttle, "192.0.2.1", 3, t0);
  fail(throttle, "192.0.2.2", 2, t0);
  fail(throttle, "2001:db8::1", 2, t0);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0));
  EXPECT_FALSE(throttle.throttled("192.0.2.2", t0));
  EXPECT_FALSE(throttle.throttled("192.0.2.10", t0));  // a prefix of nothing: exact match only
  EXPECT_FALSE(throttle.throttled("192.0.2.", t0));
  EXPECT_FALSE(throttle.throttled("2001:db8::1", t0));
  EXPECT_FALSE(throttle.throttled("2001:db8::2", t0));
  // One more for the IPv6 address throttles it and nobody else.
  throttle.failure("2001:db8::1", t0);
  EXPECT_TRUE(throttle.throttled("2001:db8::1", t0));
  EXPECT_FALSE(throttle.throttled("192.0.2.2", t0));
}

TEST(AuthThrottle, FailuresExpireAfterTheWindow) {
  AuthThrottle throttle(3, window);
  fail(throttle, "192.0.2.1", 3, t0);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0 + window - 1s));
  EXPECT_FALSE(throttle.throttled("192.0.2.1", t0 + window + 1s));
  // Expired failures are gone for good: one new failure is one, not four.
  throttle.failure("192.0.2.1", t0 + window + 2s);
  EXPECT_FALSE(throttle.throttled("192.0.2.1", t0 + window + 2s));
}

TEST(AuthThrottle, WindowSlides) {
  // Failures age out one by one, not all at once when the window restarts.
  AuthThrottle throttle(3, window);
  throttle.failure("192.0.2.1", t0);
  throttle.failure("192.0.2.1", t0 + 5min);
  throttle.failure("192.0.2.1", t0 + 10min);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0 + 14min));
  // The first failure is older than the window now; two remain.
  EXPECT_FALSE(throttle.throttled("192.0.2.1", t0 + 15min + 1s));
  throttle.failure("192.0.2.1", t0 + 16min);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0 + 16min));
  // Until the second one ages out too.
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0 + 19min));
  EXPECT_FALSE(throttle.throttled("192.0.2.1", t0 + 20min + 1s));
}

TEST(AuthThrottle, WindowLengthIsTheConfiguredOne) {
  AuthThrottle short_window(2, 30s);
  fail(short_window, "192.0.2.1", 2, t0);
  EXPECT_TRUE(short_window.throttled("192.0.2.1", t0 + 29s));
  EXPECT_FALSE(short_window.throttled("192.0.2.1", t0 + 31s));

  AuthThrottle long_window(2, 24h);
  fail(long_window, "192.0.2.1", 2, t0);
  EXPECT_TRUE(long_window.throttled("192.0.2.1", t0 + 23h));
  EXPECT_FALSE(long_window.throttled("192.0.2.1", t0 + 24h + 1s));
}

TEST(AuthThrottle, ExpiryOfOneAddressLeavesOthers) {
  AuthThrottle throttle(2, window);
  fail(throttle, "192.0.2.1", 2, t0);
  fail(throttle, "192.0.2.2", 2, t0 + 10min);
  const auto later = t0 + window + 1s;
  EXPECT_FALSE(throttle.throttled("192.0.2.1", later));
  EXPECT_TRUE(throttle.throttled("192.0.2.2", later));
}

TEST(AuthThrottle, NewAddressIsCountedWhenTheTableIsFullOfOldOnes) {
  // Memory is bounded; filling the table with addresses whose failures have
  // aged out must not stop a new address from being counted.
  AuthThrottle throttle(1, window);
  for (int i = 0; i < 100000; ++i) throttle.failure("10." + std::to_string(i), t0);
  EXPECT_TRUE(throttle.throttled("10.99999", t0));
  const auto later = t0 + window + 1s;
  throttle.failure("192.0.2.1", later);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", later));
  EXPECT_FALSE(throttle.throttled("10.0", later));
  EXPECT_FALSE(throttle.throttled("10.99999", later));
}

TEST(AuthThrottle, NewAddressIsCountedWhenTheTableIsFullOfLiveOnes) {
  AuthThrottle throttle(1, window);
  for (int i = 0; i < 100001; ++i) throttle.failure("10." + std::to_string(i), t0);
  throttle.failure("192.0.2.1", t0 + 1s);
  EXPECT_TRUE(throttle.throttled("192.0.2.1", t0 + 1s));
}

TEST(AuthThrottle, ConcurrentFailuresAreAllCounted) {
  // 4 threads x 250 failures against a limit of 1000: every one must count.
  constexpr int threads = 4;
  constexpr int each = 250;
  AuthThrottle exact(threads * each, window);
  AuthThrottle one_short(threads * each, window);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        exact.failure("192.0.2.1", t0);
        if (!(t == 0 && i == 0)) one_short.failure("192.0.2.1", t0);
        exact.throttled("192.0.2.1", t0);  // readers race with writers too
        exact.failure("198.51.100." + std::to_string(t), t0);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_TRUE(exact.throttled("192.0.2.1", t0));
  EXPECT_FALSE(one_short.throttled("192.0.2.1", t0));
  for (int t = 0; t < threads; ++t) EXPECT_FALSE(exact.throttled("198.51.100." + std::to_string(t), t0));
}

}  // namespace
}  // namespace aviary
