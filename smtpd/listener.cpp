// listener.cpp - see listener.hpp.
#include "smtpd/listener.hpp"

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/write.hpp>

#include "common/log.hpp"
#include "smtpd/reply.hpp"

namespace aviary::smtpd {

bool SessionTable::admit(const std::string& ip, const std::shared_ptr<SessionControl>& control) {
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= max_total_) return false;
  auto& count = per_ip_[ip];
  if (count >= max_per_ip_) return false;
  ++count;
  sessions_.insert(control);
  return true;
}

void SessionTable::leave(const std::string& ip, const std::shared_ptr<SessionControl>& control) {
  std::lock_guard lock(mutex_);
  sessions_.erase(control);
  if (auto it = per_ip_.find(ip); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

std::size_t SessionTable::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void SessionTable::stop_all(bool force) {
  std::lock_guard lock(mutex_);
  for (const auto& control : sessions_) {
    // The control belongs to the session's strand: act there.
    asio::post(control->executor, [control, force] {
      control->stopping = true;
      if (control->connection && (force || control->idle)) control->connection->interrupt(net::Interrupt::shutdown);
    });
  }
}

Listener::Listener(asio::io_context& io, const Endpoint& endpoint, ListenerInfo info, Services& services,
                   std::shared_ptr<asio::ssl::context> tls, SessionTable& sessions)
    : io_(io), endpoint_(endpoint), info_(std::move(info)), services_(services), tls_(std::move(tls)),
      sessions_(sessions), acceptor_(io) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(endpoint.host), endpoint.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  // "0.0.0.0:25" and "[::]:25" are separate listeners: keep v6 to itself.
  if (ep.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() {
  asio::co_spawn(io_, accept_loop(), [name = endpoint_.to_string()](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::system_error& err) {
      if (err.code() != asio::error::operation_aborted) log::error("smtpd: listener ", name, " stopped: ", err.what());
    } catch (const std::exception& err) {
      log::error("smtpd: listener ", name, " stopped: ", err.what());
    }
  });
  log::info("smtpd: listening on ", endpoint_.to_string(), " (", info_.name, ")");
}

void Listener::stop() {
  std::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> Listener::accept_loop() {
  for (;;) {
    net::Socket socket(asio::make_strand(io_.get_executor()));
    co_await acceptor_.async_accept(socket, asio::use_awaitable);
    std::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    if (ec) continue;
    std::string ip = net::address_text(peer);
    auto control = std::make_shared<SessionControl>(socket.get_executor());
    if (!sessions_.admit(ip, control)) {
      // RFC 5321 §3.1: a server may refuse with 421 at connection time.
      log::warning("smtpd: refused [", ip, "]: too many connections");
      auto reply = std::make_shared<std::string>(
          format(Reply(421, "4.7.0", services_.config.hostname + " Error: too many connections, try later")));
      auto shared = std::make_shared<net::Socket>(std::move(socket));
      asio::async_write(*shared, asio::buffer(*reply), [shared, reply](std::error_code, std::size_t) {
        std::error_code ignored;
        shared->shutdown(asio::socket_base::shutdown_both, ignored);
        shared->close(ignored);
      });
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, run_session(std::move(socket), services_, info_, tls_, control),
                   [this, ip, control](std::exception_ptr e) {
                     sessions_.leave(ip, control);
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& err) {
                       log::error("smtpd: session with [", ip, "] ended: ", err.what());
                     }
                   });
  }
}

}  // namespace aviary::smtpd
