// authenticator.hpp - checking a user's password the way both daemons must:
// Argon2 on the hashing pool, the same cost for unknown users, a pause
// after a failure, and per-address throttling.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <string>

#include "common/auth_throttle.hpp"
#include "common/password.hpp"
#include "storage/env.hpp"

namespace aviary::net {

enum class AuthOutcome { success, failure, throttled };

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::failure;
  std::string address;  // the canonical address on success
};

class Authenticator {
 public:
  Authenticator(storage::Env& env, asio::thread_pool& hashing, std::uint32_t max_failures,
                std::chrono::seconds failure_delay, const PasswordParams& params);

  // Never logs or keeps the password.
  asio::awaitable<AuthResult> verify(const std::string& ip, const std::string& user, const std::string& password);

 private:
  storage::Env& env_;
  asio::thread_pool& hashing_;
  AuthThrottle throttle_;
  std::chrono::seconds failure_delay_;
  std::string dummy_hash_;  // verified for unknown users, so they cost the same time
};

}  // namespace aviary::net
