// pop3_client.hpp - the client half of a POP3 dialogue: commands, status lines and
// multi-line responses read in bulk, over plain TCP or TLS.
//
// Every operation moves the session's deadline forward; a watchdog (run beside
// the dialogue by with_deadline) closes the socket when the deadline passes.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace aviary::pop3load {

using Clock = std::chrono::steady_clock;

struct Status {
  bool ok = false;   // "+OK"; false for "-ERR" and for garbage
  std::string line;  // the status line without CRLF
};

class Pop3Client {
 public:
  Pop3Client(asio::ip::tcp::socket socket, asio::ssl::context& tls, Clock::time_point& deadline,
             std::chrono::milliseconds timeout)
      : stream_(std::move(socket), tls), deadline_(deadline), timeout_(timeout) {}

  asio::awaitable<void> connect(const asio::ip::tcp::endpoint& server);
  // start_tls - the TLS handshake, after connect (POP3S) or after "+OK" to STLS.
  asio::awaitable<void> start_tls();
  // read_status - one status line (RFC 1939 §3).
  asio::awaitable<Status> read_status();
  // command - write `line` (CRLF added) and read the status line.
  asio::awaitable<Status> command(std::string_view line);
  // read_multiline - the rest of a multi-line response after its "+OK" line, up
  // to the terminating ".CRLF"; `body` gets it (still dot-stuffed) unless
  // `keep` is false, in which case it is only counted. Returns its octets.
  asio::awaitable<std::uint64_t> read_multiline(std::string& body, bool keep);
  void close();

 private:
  void arm() { deadline_ = Clock::now() + timeout_; }
  asio::awaitable<std::size_t> read_some();
  asio::awaitable<void> write(std::string_view data);

  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  bool tls_ = false;
  std::string in_;   // received, not yet consumed
  std::string out_;
  Clock::time_point& deadline_;
  std::chrono::milliseconds timeout_;
};

// with_deadline - runs `op` beside a watchdog that waits for `deadline` (which
// `op` keeps moving forward through Pop3Client). Returns true when `op`
// finished first, rethrowing what it threw; false when the deadline passed, in
// which case `op` has been cancelled and has finished too.
asio::awaitable<bool> with_deadline(asio::awaitable<void> op, Clock::time_point& deadline);

}  // namespace aviary::pop3load
