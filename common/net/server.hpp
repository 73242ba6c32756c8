// server.hpp - what both daemons do around their sessions: listen, admit
// within connection limits, run the I/O threads, and stop gracefully on
// SIGTERM/SIGINT.
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
#include "common/net/connection.hpp"

namespace aviary::net {

// What the server knows of a running session. Only touched on the
// session's strand, except `executor`, which never changes.
struct SessionControl {
  explicit SessionControl(Executor ex) : executor(std::move(ex)) {}
  Executor executor;
  Connection* connection = nullptr;  // set by the session while it runs
  bool idle = false;                 // waiting for a command, nothing half done
  bool stopping = false;             // shutting down: finish, then say goodbye
};

// Running sessions, and limits on how many (in total and per client IP).
class SessionTable {
 public:
  SessionTable(std::uint32_t max_total, std::uint32_t max_per_ip) : max_total_(max_total), max_per_ip_(max_per_ip) {}

  bool admit(const std::string& ip, const std::shared_ptr<SessionControl>& control);
  void leave(const std::string& ip, const std::shared_ptr<SessionControl>& control);
  std::size_t size() const;
  // Idle sessions are interrupted now; busy ones finish first unless `force`.
  void stop_all(bool force);

 private:
  mutable std::mutex mutex_;
  std::uint32_t max_total_;
  std::uint32_t max_per_ip_;
  std::map<std::string, std::uint32_t> per_ip_;
  std::set<std::shared_ptr<SessionControl>> sessions_;
};

using SessionFn = std::function<asio::awaitable<void>(Socket, std::shared_ptr<SessionControl>)>;

class Server {
 public:
  Server(std::string name, unsigned io_threads, std::uint32_t max_connections, std::uint32_t max_per_ip);
  ~Server();

  // Binds now (throws on failure); accepts once run() starts. `refusal` is
  // the whole line sent to a client over the connection limits.
  void listen(const Endpoint& endpoint, SessionFn session, std::string refusal);
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
  asio::awaitable<void> stop_on_signal(std::chrono::seconds grace);

  std::string name_;
  unsigned threads_;
  asio::io_context io_;
  // Made with the server, before any thread runs, so no signal is missed.
  asio::signal_set signals_;
  SessionTable sessions_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  struct Background {
    std::function<void()> stop;
    std::function<bool()> busy;
  };
  std::vector<Background> background_;
};

}  // namespace aviary::net
