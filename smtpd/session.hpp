// session.hpp - one SMTP session: a coroutine that reads like the protocol.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>

#include "service/server.hpp"
#include "service/tls.hpp"
#include "smtpd/listener_policy.hpp"
#include "smtpd/services.hpp"

namespace aviary::smtpd {

asio::awaitable<void> run_session(service::Socket socket, Services& services, ListenerPolicy listener,
                                  std::shared_ptr<ServerTls> tls, std::shared_ptr<service::SessionControl> control);

}  // namespace aviary::smtpd
