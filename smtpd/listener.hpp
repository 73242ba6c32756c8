// listener.hpp - accepting connections, connection limits, and the set of
// running sessions that a shutdown has to reach.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/config.hpp"
#include "smtpd/services.hpp"
#include "smtpd/session.hpp"

namespace aviary::smtpd {

// Running sessions, and limits on how many (in total and per client IP).
class SessionTable {
 public:
  SessionTable(std::uint32_t max_total, std::uint32_t max_per_ip) : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // Registers a session unless a limit is reached.
  bool admit(const std::string& ip, const std::shared_ptr<SessionControl>& control);
  void leave(const std::string& ip, const std::shared_ptr<SessionControl>& control);
  std::size_t size() const;

  // SIGTERM: idle sessions end now; the others after their transaction, or
  // when `force` is set, now.
  void stop_all(bool force);

 private:
  mutable std::mutex mutex_;
  std::uint32_t max_total_;
  std::uint32_t max_per_ip_;
  std::map<std::string, std::uint32_t> per_ip_;
  std::set<std::shared_ptr<SessionControl>> sessions_;
};

class Listener {
 public:
  Listener(asio::io_context& io, const Endpoint& endpoint, ListenerInfo info, Services& services,
           std::shared_ptr<asio::ssl::context> tls, SessionTable& sessions);
  void start();
  void stop();
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  asio::awaitable<void> accept_loop();

  asio::io_context& io_;
  Endpoint endpoint_;
  ListenerInfo info_;
  Services& services_;
  std::shared_ptr<asio::ssl::context> tls_;
  SessionTable& sessions_;
  asio::ip::tcp::acceptor acceptor_;
};

}  // namespace aviary::smtpd
