// idle.cpp - --idle: many connections that read the banner and then wait,
// to measure what an idle session costs the server.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <exception>
#include <iostream>
#include <memory>
#include <system_error>
#include <vector>

#include "tools/loadgen/load.hpp"
#include "tools/loadgen/smtp_client.hpp"

namespace aviary::loadgen {

namespace {

using asio::awaitable;

struct IdleConnection {
  Clock::time_point deadline;
  std::unique_ptr<SmtpClient> client;
};

struct IdleRun {
  const Options& options;
  asio::ip::tcp::endpoint server;
  std::vector<IdleConnection> connections;
  std::atomic<std::uint32_t> next{0};
  std::uint32_t open = 0;
  std::uint32_t failed = 0;
};

awaitable<void> open_one(IdleRun& run, IdleConnection& c) {
  co_await c.client->connect(run.server);
  Reply banner = co_await c.client->read_reply();
  if (banner.code != 220) throw std::runtime_error("banner: " + banner.text);
}

// opener - one of --concurrency coroutines that open the connections in turn.
awaitable<void> opener(IdleRun& run) {
  // Bounded: each pass takes one of the --idle connections.
  for (std::uint32_t i = run.next++; i < run.connections.size(); i = run.next++) {
    IdleConnection& c = run.connections[i];
    std::string error;
    try {
      if (!co_await with_deadline(open_one(run, c), c.deadline)) error = "timed out";
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (error.empty()) {
      ++run.open;
    } else {
      if (run.failed++ < 5) std::cerr << "aviary-loadgen: idle connection " << i << ": " << error << '\n';
      c.client->close();
    }
  }
}

awaitable<void> hold(IdleRun& run) {
  std::cout << "idle: " << run.open << " open, " << run.failed << " failed" << std::endl;
  asio::steady_timer timer(co_await asio::this_coro::executor, run.options.hold);
  co_await timer.async_wait(asio::use_awaitable);
  for (auto& c : run.connections) c.client->close();
}

void report(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::cerr << "aviary-loadgen: " << x.what() << '\n';
  }
}

}  // namespace

int run_idle(const Options& o) {
  // The idle connections all live on one thread: opening them is not the point.
  asio::io_context io(1);
  IdleRun run{o, {asio::ip::make_address(o.server.host), o.server.port}, {}, {}, 0, 0};
  run.connections.resize(o.idle);
  for (auto& c : run.connections) {
    c.deadline = Clock::now() + o.timeout;
    c.client = std::make_unique<SmtpClient>(asio::ip::tcp::socket(io), c.deadline, o.timeout);
  }
  std::uint32_t openers = std::min<std::uint32_t>(o.concurrency, o.idle);
  for (std::uint32_t i = 0; i < openers; ++i) asio::co_spawn(io, opener(run), report);
  io.run();
  io.restart();
  asio::co_spawn(io, hold(run), report);
  io.run();
  return run.failed == 0 ? 0 : 1;
}

}  // namespace aviary::loadgen
