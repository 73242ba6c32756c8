// session.hpp - one POP3 session: a coroutine that reads like RFC 1939.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "common/auth_throttle.hpp"
#include "common/config.hpp"
#include "common/net/server.hpp"
#include "pop3d/metrics.hpp"
#include "storage/env.hpp"
#include "storage/writer.hpp"

namespace aviary::pop3d {

struct Services {
  const Config& config;
  storage::Env& env;
  storage::Writer& writer;
  Metrics& metrics;
  asio::thread_pool& hashing;  // Argon2 runs here, never on an I/O thread
  AuthThrottle& throttle;
  std::shared_ptr<asio::ssl::context> tls;
  std::string lock_dir;
  std::string dummy_hash;  // verified for unknown users, so they cost the same time
};

struct ListenerInfo {
  bool implicit_tls = false;
  std::string name;  // metrics label: pop3, pop3s
};

asio::awaitable<void> run_session(net::Socket socket, Services& services, ListenerInfo listener,
                                  std::shared_ptr<net::SessionControl> control);

}  // namespace aviary::pop3d
