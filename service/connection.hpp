// connection.hpp - one client connection: TCP, optionally upgraded to TLS,
// with a deadline on every wait and buffered line reading with hard limits.
//
// All of a connection's work runs on its own strand, so the watchdog timer
// and the session coroutine never run at the same time.
#pragma once

// Asio before any standard header, as in asio_impl.cpp: its configuration
// looks for macros that standard headers define, and a different answer here
// makes aligned_new/aligned_delete disagree between files (valgrind: mismatched free).
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace aviary::service {

using Executor = asio::strand<asio::any_io_executor>;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Executor>;

// Why the last wait ended early.
enum class Interrupt { none, timeout, shutdown };

struct Line {
  std::string text;       // without the line end
  bool too_long = false;  // the line was longer than the limit and was skipped
};

class Connection {
 public:
  explicit Connection(Socket socket);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads one line (LF or CRLF terminated) of at most `max` octets with the
  // terminator. Throws asio's system_error on EOF, reset or interruption.
  asio::awaitable<Line> read_line(std::size_t max);
  // At least one more byte into the buffer (for DATA/BDAT readers).
  asio::awaitable<void> fill();
  // Buffered input not consumed yet, and consuming it.
  std::string_view buffered() const { return std::string_view(in_).substr(in_start_); }
  void consume(std::size_t n);
  bool has_buffered_line() const;
  // RFC 3207 §4.2 / RFC 2595 §4: what the client sent before TLS is not trusted.
  void discard_buffered() { in_.clear(); in_start_ = 0; }

  // Queued output goes out with flush(), so pipelined replies share a write.
  void queue(std::string_view bytes) { out_ += bytes; }
  // When a session should flush before its next read: no complete command is
  // waiting (RFC 2920 §3.1: the client may wait for these replies), or the
  // replies queued so far pass a few KiB, so that a client that pipelines
  // and never reads holds a bounded amount of the server's memory.
  bool should_flush() const { return !has_buffered_line() || out_.size() >= flush_threshold; }
  static constexpr std::size_t flush_threshold = 8 * 1024;
  asio::awaitable<void> flush();
  // Flushes, then writes `bytes` straight from the caller's buffer (no copy:
  // for large message pieces). `bytes` must stay valid until it returns.
  asio::awaitable<void> write(std::string_view bytes);

  asio::awaitable<void> start_tls(asio::ssl::context& context);
  // The client side (the relay): `server_name` goes out as SNI.
  asio::awaitable<void> start_tls_client(asio::ssl::context& context, const std::string& server_name);
  bool is_tls() const { return tls_ != nullptr; }
  std::string tls_version() const;
  std::string tls_cipher() const;

  // Every read or write after this must finish within `limit`.
  void set_timeout(std::chrono::steady_clock::duration limit);
  // And no read or write lasts past `at` (the whole-session or the DATA
  // deadline), however busy the client keeps the connection. Once the
  // connection is interrupted the deadline no longer applies: the last
  // words (a 421) get their own few seconds.
  void set_deadline(std::chrono::steady_clock::time_point at) { deadline_ = at; }
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  // Ends the current and every later wait (e.g. shutdown of an idle session).
  void interrupt(Interrupt why);
  Interrupt interrupted() const { return interrupted_; }

  void close();
  const asio::ip::tcp::endpoint& peer() const { return peer_; }
  Executor executor() { return socket_.get_executor(); }

 private:
  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buffer);
  asio::awaitable<void> write_all(asio::const_buffer bytes);
  void arm();
  // Interrupts with Interrupt::timeout and throws if the deadline has passed.
  void check_deadline();

  Socket socket_;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls_;
  asio::steady_timer watchdog_;
  std::chrono::steady_clock::duration timeout_ = std::chrono::minutes(5);
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  Interrupt interrupted_ = Interrupt::none;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  asio::ip::tcp::endpoint peer_;
  std::string in_;
  std::size_t in_start_ = 0;
  std::string out_;
};

// DeadlineScope - a tighter deadline for one phase of a session (DATA must
// end within smtpd.data_deadline), the old one again when the phase ends.
class DeadlineScope {
 public:
  DeadlineScope(Connection& conn, std::chrono::steady_clock::duration limit)
      : conn_(conn), saved_(conn.deadline()) {
    conn.set_deadline(std::min(saved_, std::chrono::steady_clock::now() + limit));
  }
  ~DeadlineScope() { conn_.set_deadline(saved_); }
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  Connection& conn_;
  std::chrono::steady_clock::time_point saved_;
};

// "[ip]" or "ip" without the port, for logs and Received headers.
std::string address_text(const asio::ip::tcp::endpoint& endpoint);

}  // namespace aviary::service
