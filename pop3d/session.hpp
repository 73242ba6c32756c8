// session.hpp - one POP3 session: a coroutine that reads like RFC 1939.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>

#include "common/config.hpp"
#include "pop3d/listener_policy.hpp"
#include "pop3d/metrics.hpp"
#include "service/authenticator.hpp"
#include "service/server.hpp"
#include "service/tls.hpp"
#include "pop3d/metrics.hpp"
#include "storage/store.hpp"

namespace aviary::pop3d {

struct Services {
  const Config& config;
  storage::Store& store;
  Metrics& metrics;
  service::Authenticator& authenticator;
  std::shared_ptr<ServerTls> tls;  // null without [tls]
};

asio::awaitable<void> run_session(service::Socket socket, Services& services, ListenerPolicy listener,
                                  std::shared_ptr<service::SessionControl> control);

}  // namespace aviary::pop3d
