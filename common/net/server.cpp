// server.cpp - see server.hpp.
#include "common/net/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <thread>

#include "common/log.hpp"
#include "common/notify.hpp"

namespace aviary::net {

bool SessionTable::admit(const std::string& ip, const std::shared_ptr<SessionControl>& control) {
  std::lock_guard lock(mutex_);
  if (sessions_.size() >= max_total_) return false;
  auto& count = per_ip_[ip];
  if (count >= max_per_ip_) {
    if (count == 0) per_ip_.erase(ip);
    return false;
  }
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
    asio::post(control->executor, [control, force] {
      control->stopping = true;
      if (control->connection && (force || control->idle)) control->connection->interrupt(Interrupt::shutdown);
    });
  }
}

struct Server::Acceptor {
  asio::ip::tcp::acceptor socket;
  Endpoint endpoint;
  SessionFn session;
  std::string refusal;
};

Server::Server(std::string name, unsigned io_threads, std::uint32_t max_connections, std::uint32_t max_per_ip)
    : name_(std::move(name)),
      threads_(io_threads ? io_threads : std::max(1u, std::thread::hardware_concurrency())),
      io_(static_cast<int>(threads_)),
      signals_(io_, SIGTERM, SIGINT),
      sessions_(max_connections, max_per_ip) {}

Server::~Server() = default;

void Server::listen(const Endpoint& endpoint, SessionFn session, std::string refusal) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(endpoint.host), endpoint.port);
  auto acceptor = std::make_unique<Acceptor>(Acceptor{asio::ip::tcp::acceptor(io_), endpoint, std::move(session), std::move(refusal)});
  try {
    acceptor->socket.open(ep.protocol());
    acceptor->socket.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    // "0.0.0.0:25" and "[::]:25" are separate listeners: keep v6 to itself.
    if (ep.address().is_v6()) acceptor->socket.set_option(asio::ip::v6_only(true));
    acceptor->socket.bind(ep);
    acceptor->socket.listen(asio::socket_base::max_listen_connections);
  } catch (const std::system_error& e) {
    throw std::runtime_error("cannot listen on " + endpoint.to_string() + ": " + e.code().message());
  }
  acceptors_.push_back(std::move(acceptor));
}

asio::awaitable<void> Server::accept_loop(Acceptor& acceptor) {
  for (;;) {
    Socket socket(asio::make_strand(io_.get_executor()));
    co_await acceptor.socket.async_accept(socket, asio::use_awaitable);
    std::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    if (ec) continue;
    std::string ip = address_text(peer);
    auto control = std::make_shared<SessionControl>(socket.get_executor());
    if (!sessions_.admit(ip, control)) {
      log::warning(name_, ": refused [", ip, "]: too many connections");
      auto shared = std::make_shared<Socket>(std::move(socket));
      asio::async_write(*shared, asio::buffer(acceptor.refusal), [shared](std::error_code, std::size_t) {
        std::error_code ignored;
        shared->shutdown(asio::socket_base::shutdown_both, ignored);
        shared->close(ignored);
      });
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, acceptor.session(std::move(socket), control),
                   [this, ip, control](std::exception_ptr e) {
                     sessions_.leave(ip, control);
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& err) {
                       log::error(name_, ": session with [", ip, "] ended: ", err.what());
                     }
                   });
  }
}

asio::awaitable<void> Server::stop_on_signal(std::chrono::seconds grace) {
  int signal = co_await signals_.async_wait(asio::use_awaitable);
  log::info(name_, ": signal ", signal, ": no new connections; finishing open sessions");
  notify_service_manager("STOPPING=1");
  for (auto& a : acceptors_) {
    std::error_code ignored;
    a->socket.close(ignored);
  }
  sessions_.stop_all(false);
  for (auto& b : background_) b.stop();
  auto busy = [this] {
    if (sessions_.size() > 0) return true;
    for (auto& b : background_)
      if (b.busy()) return true;
    return false;
  };
  asio::steady_timer timer(io_);
  auto deadline = std::chrono::steady_clock::now() + grace;
  bool forced = false;
  // Bounded: the grace period, then a few seconds for the goodbyes.
  while (busy() && std::chrono::steady_clock::now() < deadline + std::chrono::seconds(10)) {
    if (!forced && std::chrono::steady_clock::now() >= deadline) {
      log::warning(name_, ": ", sessions_.size(), " sessions still open after ", grace.count(), "s; closing them");
      sessions_.stop_all(true);
      forced = true;
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::use_awaitable);
  }
  io_.stop();
}

void Server::add_background(std::function<void()> stop, std::function<bool()> busy) {
  background_.push_back({std::move(stop), std::move(busy)});
}

void Server::run(std::chrono::seconds grace) {
  for (auto& a : acceptors_) {
    asio::co_spawn(io_, accept_loop(*a), [this, where = a->endpoint.to_string()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::system_error& err) {
        if (err.code() != asio::error::operation_aborted) log::error(name_, ": listener ", where, " stopped: ", err.what());
      } catch (const std::exception& err) {
        log::error(name_, ": listener ", where, " stopped: ", err.what());
      }
    });
    log::info(name_, ": listening on ", a->endpoint.to_string());
  }
  asio::co_spawn(io_, stop_on_signal(grace), asio::detached);
  // Listeners are bound and privileges given up: systemd (Type=notify) may
  // now start what depends on this service.
  if (!notify_service_manager("READY=1\nSTATUS=accepting connections")) log::warning(name_, ": cannot notify systemd");
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads_; ++i) pool.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : pool) t.join();
  log::info(name_, ": stopped");
}

}  // namespace aviary::net
