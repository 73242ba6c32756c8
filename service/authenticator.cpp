// authenticator.cpp - see authenticator.hpp.
#include "service/authenticator.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <random>

#include "common/address.hpp"
#include "service/offload.hpp"

namespace aviary::service {
namespace {

// How often a login waiting for its address's turn looks again. Polling
// keeps the waiter an ordinary timer of its own session, which the
// io_context cancels and destroys like any other at shutdown.
constexpr auto turn_poll = std::chrono::milliseconds(20);

// A hash nobody knows the password of, made with the configured cost.
std::string make_dummy_hash(const PasswordParams& params) {
  std::random_device random;
  std::string secret;
  for (int i = 0; i < 32; ++i) secret += static_cast<char>('a' + random() % 26);
  return hash_password(secret, params);
}

// What failures of a login name are counted by: the canonical address, so
// that "Alice@Example.TEST" and "alice@example.test" are one account; a
// name that is no address as typed, case folded.
std::string account_key(const std::string& user) {
  if (auto parsed = parse_address(user)) return parsed->key();
  std::string key = user;
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return key;
}

// One login's turn among those of its address, given back however the
// login ends (also when the session is destroyed while it waits).
class Turn {
 public:
  Turn(AuthThrottle& throttle, const std::string& ip) : throttle_(throttle), ip_(ip) {}
  ~Turn() {
    if (held_) throttle_.end(ip_);
  }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  bool take() { return held_ = throttle_.try_begin(ip_); }

 private:
  AuthThrottle& throttle_;
  std::string ip_;
  bool held_ = false;
};

}  // namespace

Authenticator::Authenticator(storage::Store& store, asio::thread_pool& hashing, const AuthPolicy& policy,
                             const PasswordParams& params)
    : store_(store),
      hashing_(hashing),
      throttle_(policy.throttle),
      failure_delay_(policy.failure_delay),
      dummy_hash_(make_dummy_hash(params)) {}

asio::awaitable<AuthResult> Authenticator::verify(const std::string& ip, const std::string& user,
                                                  const std::string& password) {
  AuthResult result;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);

  // Only a few logins per address at a time: 50 parallel sessions must
  // not make 50 guesses at once. The turn is held until the answer, the
  // pause after a failure included.
  Turn turn(throttle_, ip);
  while (!turn.take()) {
    timer.expires_after(turn_poll);
    co_await timer.async_wait(asio::use_awaitable);
  }

  const std::string account = account_key(user);
  AuthThrottle::Verdict verdict = throttle_.check(ip, account);
  if (verdict.banned) {
    result.outcome = AuthOutcome::throttled;
    co_return result;
  }
  // Earlier failures of this address or account: the password is checked
  // only after their delay, and then a correct one still logs in.
  if (verdict.wait > AuthThrottle::Clock::duration::zero()) {
    timer.expires_after(verdict.wait);
    co_await timer.async_wait(asio::use_awaitable);
  }

  std::string hash = dummy_hash_;
  if (auto parsed = parse_address(user)) {
    if (auto found = store_.find_user(*parsed)) {
      hash = found->password_hash;
      result.address = found->address;
    }
  }
  auto check = [password, hash] { return verify_password(password, hash); };
  bool good = co_await offload<bool>(hashing_, check);
  if (good && !result.address.empty()) {
    throttle_.success(account);
    result.outcome = AuthOutcome::success;
    co_return result;
  }
  throttle_.failure(ip, account);
  // Slow down guessing: the answer comes only after a pause.
  timer.expires_after(failure_delay_);
  co_await timer.async_wait(asio::use_awaitable);
  result.outcome = AuthOutcome::failure;
  result.address.clear();
  co_return result;
}

}  // namespace aviary::service
