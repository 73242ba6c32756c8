// smtp_client.hpp - the client half of an SMTP dialogue: send a line, read a reply.
//
// Only what a load generator needs: no TLS, no AUTH. Every operation moves the
// session's deadline forward; a watchdog (run beside the dialogue) closes the
// socket when the deadline passes.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace aviary::loadgen {

using Clock = std::chrono::steady_clock;

struct Reply {
  int code = 0;       // 0: the server sent something that is not a reply
  std::string text;   // the last line, without CRLF
  std::string lines;  // every line, CRLF-terminated (EHLO keywords)

  bool positive() const { return code >= 200 && code < 300; }
  bool intermediate() const { return code >= 300 && code < 400; }
  // Whether this reply's lines advertise an EHLO keyword (RFC 5321 §4.1.1.1).
  bool has_keyword(std::string_view keyword) const;
};

class SmtpClient {
 public:
  SmtpClient(asio::ip::tcp::socket socket, Clock::time_point& deadline,
             std::chrono::milliseconds timeout)
      : socket_(std::move(socket)), deadline_(deadline), timeout_(timeout) {}

  asio::awaitable<void> connect(const asio::ip::tcp::endpoint& server);
  // read_reply - one reply, multiline or not (RFC 5321 §4.2.1).
  asio::awaitable<Reply> read_reply();
  asio::awaitable<void> write(std::string_view data);
  // command - write `line` (CRLF added) and read the reply.
  asio::awaitable<Reply> command(std::string_view line);
  void close();

 private:
  void arm() { deadline_ = Clock::now() + timeout_; }

  asio::ip::tcp::socket socket_;
  std::string in_;
  std::string out_;
  Clock::time_point& deadline_;
  std::chrono::milliseconds timeout_;
};

// with_deadline - runs `op` beside a watchdog that waits for `deadline` (which
// `op` keeps moving forward through SmtpClient). Returns true when `op`
// finished first, rethrowing what it threw; false when the deadline passed, in
// which case `op` has been cancelled and has finished too.
asio::awaitable<bool> with_deadline(asio::awaitable<void> op, Clock::time_point& deadline);

}  // namespace aviary::loadgen
