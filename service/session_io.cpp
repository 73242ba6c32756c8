// session_io.cpp - see session_io.hpp.
#include "service/session_io.hpp"

#include <asio/ssl/context.hpp>

#include "common/log.hpp"
#include "service/tls.hpp"

namespace aviary::service {

SessionIo::SessionIo(Connection& conn, std::shared_ptr<ServerTls> tls) : conn_(conn), tls_(std::move(tls)) {}

SessionIo::~SessionIo() = default;

asio::awaitable<void> SessionIo::start_tls() {
  conn_.discard_buffered();
  context_ = tls_->current();
  co_await conn_.start_tls(*context_);
}

const char* auth_outcome_label(const AuthResult& result, std::string_view daemon, std::string_view what,
                               std::string_view peer, std::string_view user) {
  switch (result.outcome) {
    case AuthOutcome::success: return "success";
    case AuthOutcome::throttled:
      log::warning(daemon, ": ", what, " refused for [", peer, "]: too many failures");
      return "throttled";
    case AuthOutcome::failure: break;
  }
  log::warning(daemon, ": ", what, " failed for [", peer, "] user=", user);
  return "failure";
}

}  // namespace aviary::service
