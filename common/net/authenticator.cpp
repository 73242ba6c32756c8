// authenticator.cpp - see authenticator.hpp.
#include "common/net/authenticator.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <random>

#include "common/address.hpp"
#include "common/net/offload.hpp"
#include "storage/directory.hpp"

namespace aviary::net {
namespace {

// A hash nobody knows the password of, made with the configured cost.
std::string make_dummy_hash(const PasswordParams& params) {
  std::random_device random;
  std::string secret;
  for (int i = 0; i < 32; ++i) secret += static_cast<char>('a' + random() % 26);
  return hash_password(secret, params);
}

}  // namespace

Authenticator::Authenticator(storage::Env& env, asio::thread_pool& hashing, std::uint32_t max_failures,
                             std::chrono::seconds failure_delay, const PasswordParams& params)
    : env_(env),
      hashing_(hashing),
      throttle_(max_failures, std::chrono::minutes(15)),
      failure_delay_(failure_delay),
      dummy_hash_(make_dummy_hash(params)) {}

asio::awaitable<AuthResult> Authenticator::verify(const std::string& ip, const std::string& user,
                                                  const std::string& password) {
  AuthResult result;
  if (throttle_.throttled(ip)) {
    result.outcome = AuthOutcome::throttled;
    co_return result;
  }
  std::string hash = dummy_hash_;
  if (auto parsed = parse_address(user)) {
    storage::ReadTxn txn(env_);
    if (auto found = storage::find_user(txn, *parsed)) {
      hash = found->password_hash;
      result.address = found->address;
    }
  }
  auto check = [password, hash] { return verify_password(password, hash); };
  bool good = co_await offload<bool>(hashing_, check);
  if (good && !result.address.empty()) {
    result.outcome = AuthOutcome::success;
    co_return result;
  }
  throttle_.failure(ip);
  // Slow down guessing: the answer comes only after a pause.
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause(executor, failure_delay_);
  co_await pause.async_wait(asio::use_awaitable);
  result.outcome = AuthOutcome::failure;
  result.address.clear();
  co_return result;
}

}  // namespace aviary::net
