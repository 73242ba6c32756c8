// common_auth_throttle_test.cpp - the login throttle as Dovecot's auth penalty:
// the growing, capped delay (a pure function, as a table), that it runs from
// the last failure, per address and per account, the ban threshold, the
// window, IPv6 counted per /64, the logins in flight per address, memory
// bounds and thread safety.
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

ThrottlePolicy policy(std::uint32_t ban = 100, Clock::duration base = 2s, Clock::duration cap = 15s,
                      std::uint32_t in_flight = 3) {
  ThrottlePolicy p;
  p.ban_threshold = ban;
  p.window = 1h;
  p.base_delay = base;
  p.max_delay = cap;
  p.max_in_flight = in_flight;
  return p;
}

// fail - n failures of account from ip at `at`.
void fail(AuthThrottle& throttle, const std::string& ip, int n, Clock::time_point at,
          const std::string& account = "alice@example.test") {
  for (int i = 0; i < n; ++i) throttle.failure(ip, account, at);
}

// The penalty: none, base, doubling, capped.
struct PenaltyCase {
  const char* label;
  std::uint64_t failures;
  Clock::duration base;
  Clock::duration cap;
  Clock::duration delay;
};

void PrintTo(const PenaltyCase& c, std::ostream* os) { *os << c.label; }
std::string penalty_name(const testing::TestParamInfo<PenaltyCase>& info) { return info.param.label; }

const std::vector<PenaltyCase> penalty_cases = {
    {"no_failures", 0, 2s, 15s, 0s},
    {"one_failure_is_the_base", 1, 2s, 15s, 2s},
    {"two_double_it", 2, 2s, 15s, 4s},
    {"three", 3, 2s, 15s, 8s},
    {"four_reach_the_cap", 4, 2s, 15s, 15s},
    {"five_stay_at_the_cap", 5, 2s, 15s, 15s},
    {"ten", 10, 2s, 15s, 15s},
    {"a_billion_do_not_overflow", 1000000000, 2s, 15s, 15s},
    {"max_do_not_overflow", UINT64_MAX, 2s, 15s, 15s},
    {"base_one_second", 4, 1s, 15s, 8s},
    {"base_one_second_capped", 5, 1s, 15s, 15s},
    {"cap_below_base", 1, 2s, 1s, 1s},
    {"cap_equals_base", 3, 2s, 2s, 2s},
    {"no_base_no_delay", 5, 0s, 15s, 0s},
    {"no_cap_no_delay", 5, 2s, 0s, 0s},
    {"milliseconds", 3, 100ms, 15s, 400ms},
};

class Penalty : public testing::TestWithParam<PenaltyCase> {};

TEST_P(Penalty, GrowsAndCaps) {
  const PenaltyCase& c = GetParam();
  EXPECT_EQ(failure_penalty(c.failures, c.base, c.cap), c.delay);
}

INSTANTIATE_TEST_SUITE_P(Table, Penalty, testing::ValuesIn(penalty_cases), penalty_name);

// The delay a login sees after failures of its address: it runs from the
// last failure, grows with their number, and never refuses.
struct DelayCase {
  const char* label;
  int failures;                 // of the address, all at t0, each for another account
  Clock::duration later;        // when the next login comes
  Clock::duration wait;         // how long it must wait
};

void PrintTo(const DelayCase& c, std::ostream* os) { *os << c.label; }
std::string delay_name(const testing::TestParamInfo<DelayCase>& info) { return info.param.label; }

const std::vector<DelayCase> delay_cases = {
    {"none", 0, 0s, 0s},
    {"one_right_after", 1, 0s, 2s},
    {"one_a_second_later", 1, 1s, 1s},
    {"one_waited_out", 1, 2s, 0s},
    {"three_right_after", 3, 0s, 8s},
    {"three_five_seconds_later", 3, 5s, 3s},
    {"ten_right_after_capped", 10, 0s, 15s},
    {"ten_ten_seconds_later", 10, 10s, 5s},
    {"ten_waited_out", 10, 15s, 0s},
    {"ninety_nine_not_banned", 99, 0s, 15s},
    {"ninety_nine_a_minute_later", 99, 1min, 0s},
};

class Delay : public testing::TestWithParam<DelayCase> {};

TEST_P(Delay, RunsFromTheLastFailure) {
  const DelayCase& c = GetParam();
  AuthThrottle throttle(policy());
  for (int i = 0; i < c.failures; ++i) throttle.failure("192.0.2.1", "user" + std::to_string(i), t0);
  AuthThrottle::Verdict v = throttle.check("192.0.2.1", "nobody-failed@example.test", t0 + c.later);
  EXPECT_FALSE(v.banned);
  EXPECT_EQ(v.wait, c.wait);
}

INSTANTIATE_TEST_SUITE_P(Table, Delay, testing::ValuesIn(delay_cases), delay_name);

// The ban: only from the threshold on, per address.
struct BanCase {
  const char* label;
  std::uint32_t threshold;
  int failures;
  bool banned;
};

void PrintTo(const BanCase& c, std::ostream* os) { *os << c.label; }
std::string ban_name(const testing::TestParamInfo<BanCase>& info) { return info.param.label; }

const std::vector<BanCase> ban_cases = {
    {"default_ten_failures", 100, 10, false},
    {"default_one_below", 100, 99, false},
    {"default_at_threshold", 100, 100, true},
    {"default_past_threshold", 100, 250, true},
    {"three_two", 3, 2, false},
    {"three_three", 3, 3, true},
    {"one_none", 1, 0, false},
    {"one_one", 1, 1, true},
};

class Ban : public testing::TestWithParam<BanCase> {};

TEST_P(Ban, FromTheThresholdOn) {
  const BanCase& c = GetParam();
  AuthThrottle throttle(policy(c.threshold));
  fail(throttle, "192.0.2.1", c.failures, t0);
  EXPECT_EQ(throttle.check("192.0.2.1", "bob@example.test", t0).banned, c.banned);
  EXPECT_EQ(throttle.check("192.0.2.1", "bob@example.test", t0 + 30min).banned, c.banned);
  EXPECT_FALSE(throttle.check("192.0.2.2", "alice@example.test", t0).banned) << "another address";
}

INSTANTIATE_TEST_SUITE_P(Table, Ban, testing::ValuesIn(ban_cases), ban_name);

TEST(AuthThrottle, TenFailuresOnlyDelayTheAddress) {
  // The defect of issue 11 item 30: ten failures refused every login of the
  // address for 15 minutes. Now the next login waits, and that is all.
  AuthThrottle throttle(policy());
  fail(throttle, "192.0.2.1", 10, t0, "mallory@example.test");
  AuthThrottle::Verdict v = throttle.check("192.0.2.1", "alice@example.test", t0 + 1s);
  EXPECT_FALSE(v.banned);
  EXPECT_EQ(v.wait, 14s);
}

TEST(AuthThrottle, AccountFailuresDelayOtherAddresses) {
  // Guessing one account from many addresses slows down each of them.
  AuthThrottle throttle(policy());
  throttle.failure("192.0.2.1", "alice@example.test", t0);
  throttle.failure("192.0.2.2", "alice@example.test", t0);
  throttle.failure("192.0.2.3", "alice@example.test", t0);
  EXPECT_EQ(throttle.check("198.51.100.7", "alice@example.test", t0).wait, 8s);
  EXPECT_EQ(throttle.check("198.51.100.7", "bob@example.test", t0).wait, 0s);
  // Per account, never a ban.
  fail(throttle, "192.0.2.9", 200, t0 + 1s, "carol@example.test");
  EXPECT_FALSE(throttle.check("198.51.100.7", "carol@example.test", t0 + 1s).banned);
  EXPECT_TRUE(throttle.check("192.0.2.9", "dave@example.test", t0 + 1s).banned);
}

TEST(AuthThrottle, TheLongerDelayWins) {
  AuthThrottle throttle(policy());
  fail(throttle, "192.0.2.1", 1, t0, "x@example.test");         // address: 2 s
  fail(throttle, "192.0.2.2", 3, t0, "alice@example.test");     // alice: 8 s
  EXPECT_EQ(throttle.check("192.0.2.1", "alice@example.test", t0).wait, 8s);
  fail(throttle, "192.0.2.1", 4, t0 + 1s, "y@example.test");    // address: 5 failures, 15 s from t0 + 1 s
  EXPECT_EQ(throttle.check("192.0.2.1", "alice@example.test", t0 + 2s).wait, 14s);
}

TEST(AuthThrottle, SuccessForgetsTheAccountNotTheAddress) {
  AuthThrottle throttle(policy());
  fail(throttle, "192.0.2.1", 3, t0, "alice@example.test");
  throttle.success("alice@example.test");
  EXPECT_EQ(throttle.check("198.51.100.7", "alice@example.test", t0).wait, 0s);
  EXPECT_EQ(throttle.check("192.0.2.1", "bob@example.test", t0).wait, 8s);
}

TEST(AuthThrottle, Ipv6IsCountedPer64) {
  AuthThrottle throttle(policy(3));
  throttle.failure("2001:db8:1:2::1", "a", t0);
  throttle.failure("2001:db8:1:2::2", "b", t0);
  throttle.failure("2001:db8:1:2:ffff::3", "c", t0);
  EXPECT_TRUE(throttle.check("2001:db8:1:2::99", "d", t0).banned);
  EXPECT_FALSE(throttle.check("2001:db8:1:3::1", "d", t0).banned);
  EXPECT_EQ(throttle.check("2001:db8:1:3::1", "d", t0).wait, 0s);
}

TEST(AuthThrottle, AddressesAreCountedSeparately) {
  AuthThrottle throttle(policy(3));
  fail(throttle, "192.0.2.1", 3, t0, "a");
  fail(throttle, "192.0.2.2", 2, t0, "b");
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", t0).banned);
  EXPECT_FALSE(throttle.check("192.0.2.2", "z", t0).banned);
  EXPECT_FALSE(throttle.check("192.0.2.10", "z", t0).banned);  // exact match only, no prefixes
  EXPECT_EQ(throttle.check("192.0.2.10", "z", t0).wait, 0s);
}

TEST(AuthThrottle, FailuresAreForgottenAfterTheWindow) {
  // Counted in sixths of the hour: forgotten 60 to 70 minutes later.
  AuthThrottle throttle(policy(3));
  fail(throttle, "192.0.2.1", 3, t0);
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", t0 + 59min).banned);
  EXPECT_FALSE(throttle.check("192.0.2.1", "z", t0 + 70min).banned);
  // Gone for good: one new failure is one, not four.
  throttle.failure("192.0.2.1", "z", t0 + 71min);
  AuthThrottle::Verdict v = throttle.check("192.0.2.1", "z", t0 + 71min);
  EXPECT_FALSE(v.banned);
  EXPECT_EQ(v.wait, 2s);
}

TEST(AuthThrottle, WindowSlides) {
  // Failures age out slot by slot, not all at once.
  AuthThrottle throttle(policy(3));
  throttle.failure("192.0.2.1", "a", t0);
  throttle.failure("192.0.2.1", "b", t0 + 20min);
  throttle.failure("192.0.2.1", "c", t0 + 40min);
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", t0 + 55min).banned);
  EXPECT_FALSE(throttle.check("192.0.2.1", "z", t0 + 71min).banned);  // the first is gone
  throttle.failure("192.0.2.1", "d", t0 + 72min);
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", t0 + 72min).banned);
  EXPECT_FALSE(throttle.check("192.0.2.1", "z", t0 + 91min).banned);  // the second too
}

TEST(AuthThrottle, InFlightLoginsPerAddress) {
  AuthThrottle throttle(policy(100, 2s, 15s, 3));
  EXPECT_TRUE(throttle.try_begin("192.0.2.1"));
  EXPECT_TRUE(throttle.try_begin("192.0.2.1"));
  EXPECT_TRUE(throttle.try_begin("192.0.2.1"));
  EXPECT_FALSE(throttle.try_begin("192.0.2.1")) << "a 4th login of one address at once";
  EXPECT_TRUE(throttle.try_begin("192.0.2.2")) << "another address has its own turns";
  throttle.end("192.0.2.1");
  EXPECT_TRUE(throttle.try_begin("192.0.2.1")) << "a turn given back is free again";
  EXPECT_FALSE(throttle.try_begin("192.0.2.1"));
  // One /64 is one address.
  EXPECT_TRUE(throttle.try_begin("2001:db8::1"));
  EXPECT_TRUE(throttle.try_begin("2001:db8::2"));
  EXPECT_TRUE(throttle.try_begin("2001:db8::3"));
  EXPECT_FALSE(throttle.try_begin("2001:db8::4"));
  EXPECT_TRUE(throttle.try_begin("2001:db8:0:1::4"));
  for (int i = 0; i < 3; ++i) throttle.end("192.0.2.1");
  throttle.end("192.0.2.1");  // one too many: harmless
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(throttle.try_begin("192.0.2.1"));
  EXPECT_FALSE(throttle.try_begin("192.0.2.1"));
}

TEST(AuthThrottle, NewAddressIsCountedWhenTheTableIsFullOfOldOnes) {
  // Memory is bounded; a table full of addresses whose failures aged out
  // must not stop a new one from being counted.
  AuthThrottle throttle(policy(1));
  for (int i = 0; i < 100000; ++i) throttle.failure("10." + std::to_string(i), "a", t0);
  EXPECT_TRUE(throttle.check("10.99999", "z", t0).banned);
  const auto later = t0 + 71min;
  throttle.failure("192.0.2.1", "a", later);
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", later).banned);
  EXPECT_FALSE(throttle.check("10.0", "z", later).banned);
  EXPECT_FALSE(throttle.check("10.99999", "z", later).banned);
}

TEST(AuthThrottle, NewAddressIsCountedWhenTheTableIsFullOfLiveOnes) {
  AuthThrottle throttle(policy(1));
  for (int i = 0; i < 100001; ++i) throttle.failure("10." + std::to_string(i), "account" + std::to_string(i), t0);
  throttle.failure("192.0.2.1", "new", t0 + 1s);
  EXPECT_TRUE(throttle.check("192.0.2.1", "z", t0 + 1s).banned);
  EXPECT_EQ(throttle.check("198.51.100.1", "new", t0 + 1s).wait, 2s);
}

TEST(AuthThrottle, ConcurrentFailuresAreAllCounted) {
  // 4 threads x 250 failures against a threshold of 1000: every one counts.
  constexpr int threads = 4;
  constexpr int each = 250;
  AuthThrottle exact(policy(threads * each));
  AuthThrottle one_short(policy(threads * each));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        exact.failure("192.0.2.1", "a", t0);
        if (!(t == 0 && i == 0)) one_short.failure("192.0.2.1", "a", t0);
        exact.check("192.0.2.1", "a", t0);  // readers race with writers too
        if (exact.try_begin("192.0.2.1")) exact.end("192.0.2.1");
        exact.failure("198.51.100." + std::to_string(t), "b", t0);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_TRUE(exact.check("192.0.2.1", "z", t0).banned);
  EXPECT_FALSE(one_short.check("192.0.2.1", "z", t0).banned);
  for (int t = 0; t < threads; ++t) EXPECT_FALSE(exact.check("198.51.100." + std::to_string(t), "z", t0).banned);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(exact.try_begin("192.0.2.1")) << "every turn was given back";
}

}  // namespace
}  // namespace aviary
