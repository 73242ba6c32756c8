// server.hpp - what both daemons do around their sessions: listen, admit
// within connection limits, run the I/O threads, and stop gracefully on
// SIGTERM/SIGINT. A listener never stops on an accept() error (it backs off
// when out of descriptors or memory, see admission.hpp).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "service/connection.hpp"

namespace aviary::service {

// A pool of sessions with its own limits, in total and per client (an IPv4
// address or an IPv6 /64, see client_key). smtpd keeps MX (port 25) and
// submission (587, 465) in separate pools, so that a flood on one cannot
// lock users out of the other. Thread-safe.
class SessionPool {
 public:
  SessionPool(std::uint32_t max_total, std::uint32_t max_per_client)
      : max_total_(max_total), max_per_client_(max_per_client) {}

  // `client` is a client_key(); false when a limit is reached.
  bool admit(const std::string& client);
  void leave(const std::string& client);
  // At or above stress_percent of max_total: new reads get shorter timeouts.
  bool under_stress() const;

 private:
  mutable std::mutex mutex_;
  std::uint32_t max_total_;
  std::uint32_t max_per_client_;
  std::uint32_t active_ = 0;
  std::map<std::string, std::uint32_t> per_client_;
};

// What the server knows of a running session. Only touched on the
// session's strand, except `executor` and `pool`, which never change.
struct SessionControl {
  SessionControl(Executor ex, std::shared_ptr<const SessionPool> p) : executor(std::move(ex)), pool(std::move(p)) {}
  Executor executor;
  std::shared_ptr<const SessionPool> pool;  // the pool this session counts in
  Connection* connection = nullptr;  // set by the session while it runs
  bool idle = false;                 // waiting for a command, nothing half done
  bool stopping = false;             // shutting down: finish, then say goodbye
  bool under_stress() const { return pool && pool->under_stress(); }
};

// Every running session of the server, whatever its pool: for shutdown.
class SessionTable {
 public:
  void add(const std::shared_ptr<SessionControl>& control);
  void remove(const std::shared_ptr<SessionControl>& control);
  std::size_t size() const;
  // Idle sessions are interrupted now; busy ones finish first unless `force`.
  void stop_all(bool force);

 private:
  mutable std::mutex mutex_;
  std::set<std::shared_ptr<SessionControl>> sessions_;
};

using SessionFn = std::function<asio::awaitable<void>(Socket, std::shared_ptr<SessionControl>)>;

class Server {
 public:
  Server(std::string name, unsigned io_threads);
  ~Server();

  // A pool for listen(); one pool may serve several listeners.
  std::shared_ptr<SessionPool> add_pool(std::uint32_t max_connections, std::uint32_t max_per_ip);
  // Binds now (throws on failure); accepts once run() starts. Sessions count
  // in `pool`; `refusal` is the whole line sent to a client over its limits.
  void listen(const Endpoint& endpoint, std::shared_ptr<SessionPool> pool, SessionFn session, std::string refusal);
  // Until SIGTERM/SIGINT; then no new connections, `grace` for the open
  // ones, then they are interrupted.
  void run(std::chrono::seconds grace);
  asio::io_context& io() { return io_; }
  // Background work besides sessions (the queue runner): told to stop with
  // the sessions, and waited for while `busy` says so, within the same grace.
  void add_background(std::function<void()> stop, std::function<bool()> busy);

 private:
  struct Acceptor;
  asio::awaitable<void> accept_loop(Acceptor& acceptor);
  // Admits (or refuses) one accepted client and spawns its session.
  void start_session(Acceptor& acceptor, Socket socket);
  asio::awaitable<void> stop_on_signal(std::chrono::seconds grace);

  std::string name_;
  unsigned threads_;
  asio::io_context io_;
  // Made with the server, before any thread runs, so no signal is missed.
  asio::signal_set signals_;
  SessionTable sessions_;
  std::vector<std::shared_ptr<SessionPool>> pools_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  struct Background {
    std::function<void()> stop;
    std::function<bool()> busy;
  };
  std::vector<Background> background_;
};

}  // namespace aviary::service
