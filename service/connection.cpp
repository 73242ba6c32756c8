// connection.cpp - see connection.hpp.
#include "service/connection.hpp"

#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>

namespace aviary::service {
namespace {

constexpr std::size_t read_chunk = 16 * 1024;

}  // namespace

Connection::Connection(Socket socket) : socket_(std::move(socket)), watchdog_(socket_.get_executor()) {
  std::error_code ec;
  peer_ = socket_.remote_endpoint(ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

Connection::~Connection() {
  *alive_ = false;
  close();
}

void Connection::set_timeout(std::chrono::steady_clock::duration limit) { timeout_ = limit; }

void Connection::arm() {
  auto now = std::chrono::steady_clock::now();
  auto expiry = now + timeout_;
  if (interrupted_ == Interrupt::none) expiry = std::min(expiry, deadline_);
  watchdog_.expires_at(expiry);
  // The handler may run after this object is gone; it checks first.
  watchdog_.async_wait([this, alive = alive_](std::error_code ec) {
    if (ec || !*alive) return;
    interrupt(Interrupt::timeout);
  });
}

void Connection::interrupt(Interrupt why) {
  if (interrupted_ == Interrupt::none) interrupted_ = why;
  std::error_code ignored;
  socket_.cancel(ignored);
}

void Connection::check_deadline() {
  // A client that always has a byte ready must not outrun the watchdog.
  if (interrupted_ != Interrupt::none || std::chrono::steady_clock::now() < deadline_) return;
  interrupt(Interrupt::timeout);
  throw std::system_error(asio::error::operation_aborted);
}

void Connection::close() {
  std::error_code ignored;
  watchdog_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<std::size_t> Connection::read_some(asio::mutable_buffer buffer) {
  check_deadline();
  if (interrupted_ != Interrupt::none) throw std::system_error(asio::error::operation_aborted);
  arm();
  std::size_t n = tls_ ? co_await tls_->async_read_some(buffer, asio::use_awaitable)
                       : co_await socket_.async_read_some(buffer, asio::use_awaitable);
  watchdog_.cancel();
  co_return n;
}

void Connection::consume(std::size_t n) {
  in_start_ += n;
  if (in_start_ >= in_.size()) {
    in_.clear();
    in_start_ = 0;
  }
}

bool Connection::has_buffered_line() const { return buffered().find('\n') != std::string_view::npos; }

asio::awaitable<void> Connection::fill() {
  if (in_start_ > 0) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
  std::size_t old = in_.size();
  in_.resize(old + read_chunk);
  std::size_t n = 0;
  try {
    n = co_await read_some(asio::buffer(in_.data() + old, read_chunk));
  } catch (...) {
    in_.resize(old);
    throw;
  }
  in_.resize(old + n);
}

asio::awaitable<Line> Connection::read_line(std::size_t max) {
  Line line;
  bool skipping = false;  // past the limit: drop bytes up to the next LF
  for (;;) {
    std::string_view data = buffered();
    auto lf = data.find('\n');
    if (lf != std::string_view::npos) {
      if (!skipping && lf + 1 <= max) {
        std::string_view text = data.substr(0, lf);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        line.text = std::string(text);
      } else {
        line.too_long = true;
      }
      consume(lf + 1);
      co_return line;
    }
    if (data.size() >= max) {
      skipping = true;
      consume(data.size());
    }
    co_await fill();
  }
}

asio::awaitable<void> Connection::flush() {
  if (out_.empty()) co_return;
  std::string out;
  out.swap(out_);
  co_await write_all(asio::buffer(out));
}

asio::awaitable<void> Connection::write(std::string_view bytes) {
  co_await flush();
  co_await write_all(asio::buffer(bytes.data(), bytes.size()));
}

asio::awaitable<void> Connection::write_all(asio::const_buffer bytes) {
  // After an interruption the last words (a 421) still go out, but a peer
  // that does not read gets only a short while to take them.
  check_deadline();
  if (interrupted_ != Interrupt::none) timeout_ = std::min<std::chrono::steady_clock::duration>(timeout_, std::chrono::seconds(5));
  arm();
  if (tls_) {
    co_await asio::async_write(*tls_, bytes, asio::use_awaitable);
  } else {
    co_await asio::async_write(socket_, bytes, asio::use_awaitable);
  }
  watchdog_.cancel();
}

asio::awaitable<void> Connection::start_tls(asio::ssl::context& context) {
  check_deadline();
  tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, context);
  arm();
  co_await tls_->async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
  watchdog_.cancel();
}

asio::awaitable<void> Connection::start_tls_client(asio::ssl::context& context, const std::string& server_name) {
  tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, context);
  if (!server_name.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str());
  arm();
  co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  watchdog_.cancel();
}

std::string Connection::tls_version() const {
  if (!tls_) return {};
  return SSL_get_version(const_cast<asio::ssl::stream<Socket&>&>(*tls_).native_handle());
}

std::string Connection::tls_cipher() const {
  if (!tls_) return {};
  const SSL_CIPHER* cipher = SSL_get_current_cipher(const_cast<asio::ssl::stream<Socket&>&>(*tls_).native_handle());
  return cipher ? SSL_CIPHER_get_name(cipher) : "";
}

std::string address_text(const asio::ip::tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace aviary::service
