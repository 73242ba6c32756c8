// session.cpp - aviary-pop3load's users: log in, STAT, UIDL, RETR everything, QUIT.
#include "tools/pop3load/session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ssl/context.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tools/pop3load/pop3_client.hpp"
#include "tools/pop3load/report.hpp"

namespace aviary::pop3load {

namespace {

// More than any benchmark maildrop; a larger STAT count means a broken reply.
constexpr std::uint64_t max_messages = 10'000'000;

// expect_ok - throws with the command and the server's line unless it is +OK.
void expect_ok(const Status& s, std::string_view what) {
  if (!s.ok) throw std::runtime_error(std::string(what) + ": " + s.line.substr(0, 120));
}

// stat_count - the message count of "+OK nn mm" (RFC 1939 §5, STAT).
std::uint64_t stat_count(const Status& s) {
  std::string_view rest(s.line);
  rest.remove_prefix(std::min<std::size_t>(rest.size(), 4));  // "+OK "
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc{} || end == rest.data() || n > max_messages)
    throw std::runtime_error("STAT: not a drop listing: " + s.line.substr(0, 120));
  return n;
}

std::uint64_t count_lines(const std::string& body) {
  std::uint64_t n = 0;
  for (std::size_t at = body.find("\r\n"); at != std::string::npos; at = body.find("\r\n", at + 2)) ++n;
  return n;
}

// dialogue - one login of one user, from connect to QUIT's +OK.
asio::awaitable<void> dialogue(const Options& o, const std::string& user,
                               const asio::ip::tcp::endpoint& server, Pop3Client& client,
                               Results& r) {
  co_await client.connect(server);
  if (o.tls == TlsMode::implicit) co_await client.start_tls();
  expect_ok(co_await client.read_status(), "greeting");
  if (o.tls == TlsMode::stls) {
    expect_ok(co_await client.command("STLS"), "STLS");
    co_await client.start_tls();
  }
  expect_ok(co_await client.command("USER " + user), "USER");
  expect_ok(co_await client.command("PASS " + o.password), "PASS");

  auto stat = co_await client.command("STAT");
  expect_ok(stat, "STAT");
  std::uint64_t count = stat_count(stat);
  if (o.expect && count != *o.expect)
    throw std::runtime_error("STAT: " + std::to_string(count) + " messages, expected " +
                             std::to_string(*o.expect));

  std::string body;
  expect_ok(co_await client.command("UIDL"), "UIDL");
  co_await client.read_multiline(body, true);
  if (count_lines(body) != count)
    throw std::runtime_error("UIDL: " + std::to_string(count_lines(body)) + " lines for " +
                             std::to_string(count) + " messages");

  // Bounded by the STAT count.
  for (std::uint64_t i = 1; i <= count; ++i) {
    auto start = Clock::now();
    expect_ok(co_await client.command("RETR " + std::to_string(i)), "RETR");
    auto octets = co_await client.read_multiline(body, false);
    r.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    r.octets += octets;
    ++r.messages;
  }
  expect_ok(co_await client.command("QUIT"), "QUIT");
  ++r.sessions;
}

// user_session - every round of one user, one after the other; never throws.
asio::awaitable<void> user_session(const Options& o, std::uint32_t index, asio::ssl::context& tls,
                                   Results& r) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::endpoint server(asio::ip::make_address(o.server.host), o.server.port);
  std::string user = o.user_name(index);
  // Bounded by --rounds.
  for (std::uint32_t round = 0; round < o.rounds; ++round) {
    Clock::time_point deadline = Clock::now() + o.timeout;
    Pop3Client client(asio::ip::tcp::socket(ex), tls, deadline, o.timeout);
    try {
      bool finished = co_await with_deadline(dialogue(o, user, server, client, r), deadline);
      if (!finished) r.fail("timeout");
    } catch (const std::exception& e) {
      r.fail(e.what());
    }
    client.close();
  }
}

}  // namespace

int run_load(const Options& o) {
  asio::io_context io(static_cast<int>(o.threads));
  asio::ssl::context tls(asio::ssl::context::tls_client);
  // A benchmark against a private server with a self-signed certificate: -k.
  tls.set_verify_mode(asio::ssl::verify_none);

  std::vector<Results> per_user(o.users);
  auto start = Clock::now();
  for (std::uint32_t i = 0; i < o.users; ++i) {
    // A strand per session: the dialogue and its watchdog share the deadline.
    asio::co_spawn(asio::make_strand(io), user_session(o, i + 1, tls, per_user[i]),
                   [](std::exception_ptr e) {
                     if (e) std::rethrow_exception(e);  // user_session catches all: a bug
                   });
  }
  std::vector<std::thread> threads;
  for (std::uint32_t t = 1; t < o.threads; ++t) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  auto elapsed = Clock::now() - start;

  Results total;
  for (const auto& r : per_user) total.merge(r);
  Summary s = summarize(total, elapsed);
  if (o.json) {
    std::cerr << human_line(o, total, s) << '\n';
    std::cout << json_object(o, total, s) << '\n';
  } else {
    std::cout << human_line(o, total, s) << '\n';
  }
  return total.failures == 0 ? 0 : 1;
}

}  // namespace aviary::pop3load
