// pop3_client.cpp - line and bulk I/O for aviary-pop3load's sessions.
#include "tools/pop3load/pop3_client.hpp"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <exception>
#include <stdexcept>
#include <system_error>

namespace aviary::pop3load {

namespace {

// RFC 2449 §4: a response line is at most 512 octets; allow slack for servers
// that are generous, refuse anything else as garbage.
constexpr std::size_t max_status_line = 4096;
// The largest multi-line response this tool accepts (a 30 MiB message, stuffed,
// fits many times over).
constexpr std::uint64_t max_multiline = 1ull << 30;
constexpr std::size_t read_chunk = 64 * 1024;

// RFC 1939 §3: a multi-line response ends with CRLF "." CRLF, the first CRLF
// being the end of the last line (or of the status line when the body is empty).
constexpr std::string_view terminator = "\r\n.\r\n";

}  // namespace

asio::awaitable<void> Pop3Client::connect(const asio::ip::tcp::endpoint& server) {
  arm();
  co_await stream_.next_layer().async_connect(server, asio::use_awaitable);
  stream_.next_layer().set_option(asio::ip::tcp::no_delay(true));
}

asio::awaitable<void> Pop3Client::start_tls() {
  arm();
  // RFC 2595 §4: anything the server sent before the handshake is void.
  in_.clear();
  co_await stream_.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  tls_ = true;
}

asio::awaitable<std::size_t> Pop3Client::read_some() {
  arm();
  std::size_t old = in_.size();
  in_.resize(old + read_chunk);
  auto buf = asio::buffer(in_.data() + old, read_chunk);
  std::size_t n = 0;
  try {
    n = tls_ ? co_await stream_.async_read_some(buf, asio::use_awaitable)
             : co_await stream_.next_layer().async_read_some(buf, asio::use_awaitable);
  } catch (...) {
    in_.resize(old);
    throw;
  }
  in_.resize(old + n);
  co_return n;
}

asio::awaitable<void> Pop3Client::write(std::string_view data) {
  arm();
  if (tls_)
    co_await asio::async_write(stream_, asio::buffer(data), asio::use_awaitable);
  else
    co_await asio::async_write(stream_.next_layer(), asio::buffer(data), asio::use_awaitable);
}

asio::awaitable<Status> Pop3Client::read_status() {
  std::size_t eol = in_.find("\r\n");
  // Bounded by max_status_line: each pass adds at least one octet or throws.
  while (eol == std::string::npos) {
    if (in_.size() > max_status_line) throw std::runtime_error("status line too long");
    std::size_t from = in_.empty() ? 0 : in_.size() - 1;
    co_await read_some();
    eol = in_.find("\r\n", from);
  }
  Status s;
  s.line.assign(in_, 0, eol);
  s.ok = s.line.starts_with("+OK");
  in_.erase(0, eol + 2);
  co_return s;
}

asio::awaitable<Status> Pop3Client::command(std::string_view line) {
  out_.assign(line);
  out_ += "\r\n";
  co_await write(out_);
  co_return co_await read_status();
}

asio::awaitable<std::uint64_t> Pop3Client::read_multiline(std::string& body, bool keep) {
  body.clear();
  // The status line's CRLF counts as the first two octets of the terminator.
  std::string tail = "\r\n";
  std::uint64_t total = 0;
  // Bounded by max_multiline: each pass consumes what was read or returns.
  for (;;) {
    // The terminator may straddle the previous chunk and this one.
    std::string seam = tail + in_.substr(0, terminator.size() - 1);
    std::size_t end = std::string::npos;  // offset in in_ just past the terminator
    if (auto at = seam.find(terminator); at != std::string::npos)
      end = at + terminator.size() - tail.size();
    else if (auto at2 = in_.find(terminator); at2 != std::string::npos)
      end = at2 + terminator.size();
    if (end != std::string::npos) {
      // The body excludes ".CRLF", part of which may have come with the previous
      // chunk and been counted already: then take those octets back.
      if (end >= 3) {
        total += end - 3;
        if (keep) body.append(in_, 0, end - 3);
      } else {
        total -= 3 - end;
        if (keep) body.resize(body.size() - (3 - end));
      }
      in_.erase(0, end);
      co_return total;
    }
    total += in_.size();
    if (total > max_multiline) throw std::runtime_error("multi-line response too long");
    if (keep) body += in_;
    tail = (tail + in_);
    if (tail.size() > terminator.size() - 1) tail.erase(0, tail.size() - (terminator.size() - 1));
    in_.clear();
    co_await read_some();
  }
}

void Pop3Client::close() {
  std::error_code ignored;
  stream_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.next_layer().close(ignored);
}

namespace {

// watchdog - returns once `deadline` has passed without being moved.
asio::awaitable<void> watchdog(Clock::time_point& deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto now = Clock::now();
  // Bounded: it only loops again when the dialogue moved the deadline, and it
  // is cancelled as soon as the dialogue ends.
  while (deadline > now) {
    timer.expires_at(deadline);
    co_await timer.async_wait(asio::use_awaitable);
    now = Clock::now();
  }
}

}  // namespace

asio::awaitable<bool> with_deadline(asio::awaitable<void> op, Clock::time_point& deadline) {
  auto ex = co_await asio::this_coro::executor;
  // wait_for_one: whichever finishes first cancels the other, and the group
  // completes only after both have finished, so nothing outlives this frame.
  auto [order, op_error, watchdog_error] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(ex, std::move(op), asio::experimental::deferred),
          asio::co_spawn(ex, watchdog(deadline), asio::experimental::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  if (order[0] == 1 && !watchdog_error) co_return false;
  if (op_error) std::rethrow_exception(op_error);
  co_return true;
}

}  // namespace aviary::pop3load
