// options.hpp - what one aviary-pop3load run does, as parsed from the command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/config.hpp"

namespace aviary::pop3load {

enum class TlsMode {
  none,      // plain POP3 all the way
  stls,      // plain connect, then STLS (RFC 2595 §4)
  implicit,  // TLS from the first byte (POP3S, RFC 8314)
};

struct Options {
  Endpoint server{"127.0.0.1", 110};
  std::uint32_t users = 1;                    // concurrent sessions, one mailbox each
  std::string user_format = "u%u@bench.test"; // %u -> 1..users
  std::string password = "pw";
  std::uint32_t rounds = 1;                   // logins per user, one after the other
  TlsMode tls = TlsMode::none;
  std::optional<std::uint64_t> expect;        // messages each maildrop must hold
  std::chrono::milliseconds timeout{30000};   // for each connect, read or write
  std::uint32_t threads = 1;                  // threads running the io_context
  bool json = false;

  // user_name - the mailbox of user i (1-based).
  std::string user_name(std::uint32_t i) const;
};

// Parses argv. On --help or a usage error it prints and exits (0 or 2).
Options parse_options(int argc, char** argv);

}  // namespace aviary::pop3load
