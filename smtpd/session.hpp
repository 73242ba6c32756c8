// session.hpp - one SMTP session: a coroutine that reads like the protocol.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "service/server.hpp"
#include "service/tls.hpp"
#include "smtpd/services.hpp"
#include "smtpd/session_state.hpp"

namespace aviary::smtpd {

struct ListenerInfo {
  ListenerKind kind = ListenerKind::mx;
  std::string name;  // metrics label: smtp, submission, submissions
};

asio::awaitable<void> run_session(service::Socket socket, Services& services, ListenerInfo listener,
                                  std::shared_ptr<ServerTls> tls, std::shared_ptr<service::SessionControl> control);

}  // namespace aviary::smtpd
