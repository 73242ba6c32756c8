// options.hpp - what one aviary-loadgen run does, as parsed from the command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"

namespace aviary::loadgen {

// How a message's recipients are chosen from --to.
enum class RcptMode {
  round_robin,  // message i goes to to[i % to.size()]
  all,          // every message goes to the whole list
};

struct Options {
  Endpoint server{"127.0.0.1", 2525};
  std::uint64_t messages = 1000;
  std::uint64_t size = 4096;            // bytes, headers included, before dot-stuffing
  std::uint32_t concurrency = 1;        // sessions running at once
  std::uint32_t per_connection = 1;     // messages per connection before QUIT
  std::string from = "loadgen@loadgen.test";
  std::vector<std::string> to;
  RcptMode rcpt_mode = RcptMode::round_robin;
  std::string ehlo = "loadgen.test";
  std::chrono::milliseconds timeout{30000};   // for each read, write or connect
  std::optional<std::chrono::milliseconds> duration;  // stop starting messages after this
  bool pipelining = false;              // MAIL, RCPT and DATA in one write (RFC 2920)
  std::uint32_t threads = 1;            // threads running the io_context
  bool json = false;

  // --idle N: open N connections that only read the banner, hold them.
  std::uint32_t idle = 0;
  std::chrono::milliseconds hold{10000};
};

// Parses argv. On --help or a usage error it prints and exits (0 or 2).
Options parse_options(int argc, char** argv);

}  // namespace aviary::loadgen
