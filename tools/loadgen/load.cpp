// load.cpp - runs C sessions on an io_context (on --threads threads) and reports.
#include "tools/loadgen/load.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>
#include <vector>

#include "tools/loadgen/results.hpp"
#include "tools/loadgen/session.hpp"

namespace aviary::loadgen {

namespace {

// run_threads - io.run() on n threads; returns when all work is done.
void run_threads(asio::io_context& io, std::uint32_t n) {
  std::vector<std::thread> extra;
  for (std::uint32_t i = 1; i < n; ++i) extra.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : extra) t.join();
}

}  // namespace

int run_load(const Options& o) {
  asio::io_context io(static_cast<int>(o.threads));
  auto start = Clock::now();
  Run run(o, start);
  std::vector<Results> per_session(o.concurrency);
  std::atomic<bool> crashed{false};

  for (auto& results : per_session) {
    // A strand per session: with --threads > 1 the dialogue and its watchdog
    // (which share the deadline) must never run at the same time.
    asio::co_spawn(asio::make_strand(io), run_session(run, results), [&crashed](std::exception_ptr e) {
      if (!e) return;
      crashed = true;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::cerr << "aviary-loadgen: session ended by an unexpected error: " << x.what() << '\n';
      }
    });
  }
  run_threads(io, o.threads);
  auto elapsed = Clock::now() - start;

  Results total;
  for (const auto& r : per_session) total.merge(r);
  Summary summary = summarize(total, elapsed);

  std::string line = human_line(o, total, summary);
  if (o.json) {
    std::cerr << line << '\n';
    std::cout << json_object(o, total, summary) << std::endl;
  } else {
    std::cout << line << std::endl;
  }
  for (const auto& [reason, n] : total.reasons) std::cerr << "  " << n << " x " << reason << '\n';
  return total.failures() == 0 && total.ok > 0 && !crashed ? 0 : 1;
}

}  // namespace aviary::loadgen
