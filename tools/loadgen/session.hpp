// session.hpp - one load-generating SMTP session: connections, one after the other,
// each sending up to --per-connection messages.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <optional>

#include "tools/loadgen/options.hpp"
#include "tools/loadgen/results.hpp"
#include "tools/loadgen/smtp_client.hpp"

namespace aviary::loadgen {

// What every session shares: the options and the counter that hands out
// message numbers, so that exactly --messages are attempted in all.
class Run {
 public:
  Run(const Options& options, Clock::time_point start);

  // claim - the next message to send, or nothing when all are handed out or
  // --duration has passed.
  std::optional<std::uint64_t> claim();

  const Options& options;
  const asio::ip::tcp::endpoint server;

 private:
  std::atomic<std::uint64_t> next_{0};
  std::optional<Clock::time_point> stop_at_;
};

// run_session - connects again and again until claim() says stop. Every
// message it claims ends up in `results`, as accepted or as a failure.
asio::awaitable<void> run_session(Run& run, Results& results);

}  // namespace aviary::loadgen
