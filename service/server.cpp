// server.cpp - see server.hpp.
#include "service/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <thread>

#include "common/admission.hpp"
#include "common/exception_text.hpp"
#include "common/log.hpp"
#include "common/notify.hpp"

namespace aviary::service {

bool SessionPool::admit(const std::string& client) {
  std::lock_guard lock(mutex_);
  if (active_ >= max_total_) return false;
  auto& count = per_client_[client];
  if (count >= max_per_client_) {
    if (count == 0) per_client_.erase(client);
    return false;
  }
  ++count;
  ++active_;
  return true;
}

void SessionPool::leave(const std::string& client) {
  std::lock_guard lock(mutex_);
  --active_;
  if (auto it = per_client_.find(client); it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

bool SessionPool::under_stress() const {
  std::lock_guard lock(mutex_);
  return admission::under_stress(active_, max_total_);
}

void SessionTable::add(const std::shared_ptr<SessionControl>& control) {
  std::lock_guard lock(mutex_);
  sessions_.insert(control);
}

void SessionTable::remove(const std::shared_ptr<SessionControl>& control) {
  std::lock_guard lock(mutex_);
  sessions_.erase(control);
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
  std::shared_ptr<SessionPool> pool;
  SessionFn session;
  std::string refusal;
};

Server::Server(std::string name, unsigned io_threads)
    : name_(std::move(name)),
      threads_(io_threads ? io_threads : std::max(1u, std::thread::hardware_concurrency())),
      io_(static_cast<int>(threads_)),
      signals_(io_, SIGTERM, SIGINT) {}

Server::~Server() = default;

std::shared_ptr<SessionPool> Server::add_pool(std::uint32_t max_connections, std::uint32_t max_per_ip) {
  pools_.push_back(std::make_shared<SessionPool>(max_connections, max_per_ip));
  return pools_.back();
}

void Server::listen(const Endpoint& endpoint, std::shared_ptr<SessionPool> pool, SessionFn session, std::string refusal) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(endpoint.host), endpoint.port);
  auto acceptor = std::make_unique<Acceptor>(
      Acceptor{asio::ip::tcp::acceptor(io_), endpoint, std::move(pool), std::move(session), std::move(refusal)});
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
  asio::steady_timer pause(io_);
  bool backing_off = false;  // log an episode of failures once, not every 100 ms
  const std::string where = acceptor.endpoint.to_string();
  for (;;) {
    Socket socket(asio::make_strand(io_.get_executor()));
    std::error_code error;
    co_await acceptor.socket.async_accept(socket, asio::redirect_error(asio::use_awaitable, error));
    if (error) {
      switch (admission::on_accept_error(error)) {
        case admission::AcceptAction::stop: co_return;
        case admission::AcceptAction::retry: continue;
        case admission::AcceptAction::back_off: break;
      }
      if (!backing_off) log::warning(name_, ": accept on ", where, ": ", error.message(), "; retrying every 100 ms");
      backing_off = true;
      pause.expires_after(std::chrono::milliseconds(100));
      std::error_code ignored;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      if (!acceptor.socket.is_open()) co_return;
      continue;
    }
    if (backing_off) log::info(name_, ": accepting on ", where, " again");
    backing_off = false;
    try {
      start_session(acceptor, std::move(socket));
    } catch (const std::exception& e) {
      // E.g. no memory for the session: that client is lost, the listener is not.
      log::error(name_, ": connection on ", where, " dropped: ", e.what());
    }
  }
}

void Server::start_session(Acceptor& acceptor, Socket socket) {
  std::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) return;  // reset before we got to it
  std::string ip = address_text(peer);
  std::string client = admission::client_key(ip);
  auto& pool = acceptor.pool;
  if (!pool->admit(client)) {
    log::warning(name_, ": refused [", ip, "] on ", acceptor.endpoint.to_string(), ": too many connections");
    auto shared = std::make_shared<Socket>(std::move(socket));
    asio::async_write(*shared, asio::buffer(acceptor.refusal), [shared](std::error_code, std::size_t) {
      std::error_code ignored;
      shared->shutdown(asio::socket_base::shutdown_both, ignored);
      shared->close(ignored);
    });
    return;
  }
  std::shared_ptr<SessionControl> control;
  try {
    control = std::make_shared<SessionControl>(socket.get_executor(), pool);
    sessions_.add(control);
  } catch (...) {
    pool->leave(client);
    throw;
  }
  auto executor = socket.get_executor();
  asio::co_spawn(executor, acceptor.session(std::move(socket), control),
                 [this, ip, client, pool, control](std::exception_ptr e) {
                   sessions_.remove(control);
                   pool->leave(client);
                   if (e) log::error(name_, ": session with [", ip, "] ended: ", exception_text(e).what);
                 });
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
      // A listener closed at shutdown ends with operation_aborted: no failure.
      if (auto err = exception_text(e); err.code != asio::error::operation_aborted) {
        log::error(name_, ": listener ", where, " stopped: ", err.what);
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

}  // namespace aviary::service
