// authenticator.hpp - checking a user's password the way both daemons must:
// Argon2 on the hashing pool, the same cost for unknown users, a pause
// after a failure, and the AuthThrottle's delays, ban and per-address turns.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <string>

#include "common/auth_throttle.hpp"
#include "common/password.hpp"
#include "storage/store.hpp"

namespace aviary::service {

enum class AuthOutcome { success, failure, throttled };

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::failure;
  std::string address;  // the canonical address on success
};

struct AuthPolicy {
  std::chrono::seconds failure_delay{2};  // a failure is answered after this pause
  ThrottlePolicy throttle;
};

// auth_policy - the login settings of a daemon's section ([smtpd], [pop3d]):
// auth_failure_delay (also the first penalty), auth_max_delay,
// max_auth_failures (the ban threshold per hour), max_concurrent_auth_per_ip.
template <class Section>
AuthPolicy auth_policy(const Section& section) {
  AuthPolicy policy;
  policy.failure_delay = section.auth_failure_delay;
  policy.throttle.ban_threshold = section.max_auth_failures;
  policy.throttle.window = std::chrono::hours(1);
  policy.throttle.base_delay = section.auth_failure_delay;
  policy.throttle.max_delay = section.auth_max_delay;
  policy.throttle.max_in_flight = section.max_concurrent_auth_per_ip;
  return policy;
}

class Authenticator {
 public:
  Authenticator(storage::Store& store, asio::thread_pool& hashing, const AuthPolicy& policy, const PasswordParams& params);

  // Never logs or keeps the password. `throttled`: the address has passed
  // the ban threshold; the password was not checked.
  asio::awaitable<AuthResult> verify(const std::string& ip, const std::string& user, const std::string& password);

 private:
  storage::Store& store_;
  asio::thread_pool& hashing_;
  AuthThrottle throttle_;
  std::chrono::seconds failure_delay_;
  std::string dummy_hash_;  // verified for unknown users, so they cost the same time
};

}  // namespace aviary::service
