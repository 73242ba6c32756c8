// smtp_client.cpp - line I/O and reply parsing for the load generator's sessions.
#include "tools/loadgen/smtp_client.hpp"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/connect.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <exception>
#include <system_error>

namespace aviary::loadgen {

namespace {

// Replies are short; anything longer than this per line is a broken server.
constexpr std::size_t max_reply_line = 4096;
// RFC 5321 puts no limit on reply lines, but an EHLO reply of more than this
// many lines is not one this tool needs to read.
constexpr int max_reply_lines = 256;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool Reply::has_keyword(std::string_view keyword) const {
  std::string_view rest = lines;
  // Bounded by the number of lines in the reply.
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (line.size() < 4) continue;
    std::string_view word = line.substr(4);
    word = word.substr(0, word.find(' '));
    if (word.size() != keyword.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < word.size() && same; ++i)
      same = (word[i] | 0x20) == (keyword[i] | 0x20);
    if (same) return true;
  }
  return false;
}

asio::awaitable<void> SmtpClient::connect(const asio::ip::tcp::endpoint& server) {
  arm();
  co_await socket_.async_connect(server, asio::use_awaitable);
  socket_.set_option(asio::ip::tcp::no_delay(true));
}

asio::awaitable<Reply> SmtpClient::read_reply() {
  Reply reply;
  for (int n = 0; n < max_reply_lines; ++n) {
    arm();
    std::size_t len =
        co_await asio::async_read_until(socket_, asio::dynamic_buffer(in_, max_reply_line), "\r\n",
                                        asio::use_awaitable);
    std::string_view line(in_.data(), len - 2);
    reply.lines.append(in_, 0, len);
    bool last = true;
    if (line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
        (line.size() == 3 || line[3] == ' ' || line[3] == '-')) {
      reply.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
      last = line.size() == 3 || line[3] == ' ';
    } else {
      reply.code = 0;  // garbage: report it as such, stop reading
    }
    reply.text.assign(line);
    in_.erase(0, len);
    if (last) co_return reply;
  }
  reply.code = 0;
  reply.text = "reply of more than " + std::to_string(max_reply_lines) + " lines";
  co_return reply;
}

asio::awaitable<void> SmtpClient::write(std::string_view data) {
  arm();
  co_await asio::async_write(socket_, asio::buffer(data), asio::use_awaitable);
}

asio::awaitable<Reply> SmtpClient::command(std::string_view line) {
  out_.assign(line);
  out_ += "\r\n";
  co_await write(out_);
  co_return co_await read_reply();
}

void SmtpClient::close() {
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
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
  // (awaitable_operators' || waits for one *success*, so a dialogue that
  // fails would sit there until the deadline.)
  auto [order, op_error, watchdog_error] =
      co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, std::move(op), asio::experimental::deferred),
                                                       asio::co_spawn(ex, watchdog(deadline), asio::experimental::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  if (order[0] == 1 && !watchdog_error) co_return false;
  if (op_error) std::rethrow_exception(op_error);
  co_return true;
}

}  // namespace aviary::loadgen
