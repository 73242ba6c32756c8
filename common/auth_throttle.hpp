// auth_throttle.hpp - slows down password guessing, as Dovecot's auth penalty does.
//
// A failed login delays later attempts from the same client address and for
// the same account: by the base delay after one failure, doubling with each
// further one, at most the cap (2, 4, 8, 15 s by default). The delay counts
// from the last failure, so a client that waited anyway is not slowed down,
// and a correct password still logs in once it has passed: one office NAT,
// one CGNAT pool or one phone with an old password no longer locks out
// everybody behind the address. Only a much higher number of failures from
// one address in the window (default 100 an hour) refuses it outright.
//
// Failures are remembered for the window, counted in sixths of it (so one
// is forgotten between 60 and 70 minutes after it happened). IPv6 clients
// are counted per /64: one host usually holds a whole one. The throttle also
// counts the logins of each address in progress, so that 50 parallel
// sessions cannot make 50 guesses at once.
//
// Shared by the POP3 and SMTP AUTH code through service::Authenticator;
// thread-safe; time is passed in, so tests need no clock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aviary {

using ThrottleClock = std::chrono::steady_clock;

// failure_penalty - the delay after `failures` failures: none, then base,
// 2 x base, 4 x base, ..., never more than `cap`.
ThrottleClock::duration failure_penalty(std::uint64_t failures, ThrottleClock::duration base,
                                        ThrottleClock::duration cap);

struct ThrottlePolicy {
  std::uint32_t ban_threshold = 100;  // failures of one address in `window`: then refused outright
  ThrottleClock::duration window = std::chrono::hours(1);
  ThrottleClock::duration base_delay = std::chrono::seconds(2);
  ThrottleClock::duration max_delay = std::chrono::seconds(15);
  std::uint32_t max_in_flight = 3;  // logins of one address checked at the same time
};

class AuthThrottle {
 public:
  using Clock = ThrottleClock;

  struct Verdict {
    bool banned = false;         // refuse without checking the password
    Clock::duration wait{};      // otherwise check it only after this long
  };

  explicit AuthThrottle(ThrottlePolicy policy);

  // check - what to do with a login of `account` from `ip` now.
  Verdict check(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  // failure - a wrong password (or an unknown account): counted for both.
  void failure(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  // success - the account's owner logged in: its failures are forgotten.
  // Those of the address are not, or an attacker could clear them by
  // logging in to an account of their own between guesses.
  void success(std::string_view account);

  // try_begin - a login of `ip` may start unless max_in_flight of its are
  // under way; every true is paired with one end().
  bool try_begin(std::string_view ip);
  void end(std::string_view ip);

  const ThrottlePolicy& policy() const { return policy_; }

 private:
  static constexpr std::size_t slots = 7;  // the current sixth of the window and the six before

  // The failures of one address or account in the window, by slot, and
  // when the last one happened.
  struct Failures {
    std::array<std::uint32_t, slots> counts{};
    std::int64_t newest = 0;  // slot number of the newest count
    Clock::time_point last{};
  };
  using Table = std::unordered_map<std::string, Failures>;

  std::int64_t slot_of(Clock::time_point t) const;
  std::uint64_t count(Failures& f, Clock::time_point now) const;  // also forgets what aged out
  Clock::duration wait(Failures& f, std::uint64_t failures, Clock::time_point now) const;
  void add(Table& table, const std::string& key, Clock::time_point now);

  // Bounded memory under a storm from many addresses or account names.
  static constexpr std::size_t max_keys = 100000;

  ThrottlePolicy policy_;
  std::mutex mutex_;
  Table addresses_;
  Table accounts_;
  std::unordered_map<std::string, std::uint32_t> in_flight_;  // by address key; no zeros kept
};

}  // namespace aviary
