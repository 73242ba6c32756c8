// session.hpp - one SMTP session: a coroutine that reads like the protocol.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "common/net/connection.hpp"
#include "smtpd/services.hpp"
#include "smtpd/session_state.hpp"

namespace aviary::smtpd {

// What the listener and the shutdown path know of a running session. Only
// touched on the session's strand.
struct SessionControl {
  explicit SessionControl(net::Executor ex) : executor(std::move(ex)) {}
  net::Executor executor;  // the session's strand
  net::Connection* connection = nullptr;
  bool idle = false;      // waiting for a command outside a transaction
  bool stopping = false;  // SIGTERM: finish the transaction, then 421
};

struct ListenerInfo {
  ListenerKind kind = ListenerKind::mx;
  std::string name;  // metrics label: smtp, submission, submissions
};

asio::awaitable<void> run_session(net::Socket socket, Services& services, ListenerInfo listener,
                                  std::shared_ptr<asio::ssl::context> tls, std::shared_ptr<SessionControl> control);

}  // namespace aviary::smtpd
