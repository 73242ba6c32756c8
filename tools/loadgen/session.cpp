// session.cpp - the SMTP client dialogue of one load-generating session.
//
// A connection: connect, 220, EHLO, then up to K times MAIL, RCPT..., DATA,
// the dot-stuffed message, the final reply, and QUIT. Without --pipelining
// every command waits for its reply; with it (and the server's PIPELINING)
// MAIL, RCPT and DATA go in one write (RFC 2920 §3.1).
#include "tools/loadgen/session.hpp"

#include <asio/ip/address.hpp>
#include <asio/this_coro.hpp>

#include <system_error>

#include "tools/loadgen/message.hpp"

namespace aviary::loadgen {

namespace {

using asio::awaitable;

std::string describe(const char* stage, const Reply& reply) {
  if (reply.code == 0) return std::string(stage) + ": not an SMTP reply: " + reply.text.substr(0, 80);
  return std::string(stage) + ": " + reply.text.substr(0, 120);
}

// Whether the server is closing: RFC 5321 §3.8 (421) or garbage.
bool closing(const Reply& reply) { return reply.code == 421 || reply.code == 0; }

Failure kind_of(const Reply& reply) { return reply.code == 0 ? Failure::connection : Failure::rejected; }

struct Envelope {
  std::vector<std::string_view> recipients;
  std::string wire;  // dot-stuffed message with its terminating ".\r\n"
};

Envelope make_envelope(const Run& run, std::uint64_t index) {
  const Options& o = run.options;
  Envelope e;
  if (o.rcpt_mode == RcptMode::all) {
    e.recipients.assign(o.to.begin(), o.to.end());
  } else {
    e.recipients.push_back(o.to[index % o.to.size()]);
  }
  MessageSpec spec{index, o.from, e.recipients, o.size, o.ehlo};
  e.wire = dot_stuff(build_message(spec));
  return e;
}

// Connection - the state one connection's dialogue shares with its caller.
struct Connection {
  Run& run;
  SmtpClient& client;
  Results& results;
  std::optional<std::uint64_t>& pending;  // claimed, no outcome recorded yet
  bool size_ext = false;
  bool pipelining = false;

  void settle_ok(std::chrono::nanoseconds latency) {
    results.succeed(latency);
    pending.reset();
  }
  void settle_failed(Failure kind, const std::string& reason) {
    results.fail(kind, reason);
    pending.reset();
  }

  std::string mail_from(const Envelope& e) const {
    std::string cmd = "MAIL FROM:<" + run.options.from + ">";
    if (size_ext) cmd += " SIZE=" + std::to_string(e.wire.size());
    return cmd;
  }

  // After a failed transaction: RSET keeps the connection usable
  // (RFC 5321 §4.1.1.5). Returns false if the server is going away.
  awaitable<bool> reset_unless_closing(const Reply& failed) {
    if (closing(failed)) co_return false;
    Reply r = co_await client.command("RSET");
    co_return !closing(r);
  }

  // send_body - writes the message, times the reply to it from the end of DATA.
  awaitable<Reply> send_body(const Envelope& e, std::chrono::nanoseconds& latency) {
    co_await client.write(e.wire);
    auto end_of_data = Clock::now();
    Reply r = co_await client.read_reply();
    latency = Clock::now() - end_of_data;
    co_return r;
  }

  // lockstep - one command, one reply. Returns false if the connection must end.
  awaitable<bool> lockstep(const Envelope& e) {
    Reply mail = co_await client.command(mail_from(e));
    if (!mail.positive()) {
      settle_failed(kind_of(mail), describe("MAIL", mail));
      co_return co_await reset_unless_closing(mail);
    }
    for (auto rcpt : e.recipients) {
      Reply r = co_await client.command("RCPT TO:<" + std::string(rcpt) + ">");
      if (!r.positive()) {
        settle_failed(kind_of(r), describe("RCPT", r));
        co_return co_await reset_unless_closing(r);
      }
    }
    Reply data = co_await client.command("DATA");
    if (data.code != 354) {
      settle_failed(kind_of(data), describe("DATA", data));
      co_return co_await reset_unless_closing(data);
    }
    std::chrono::nanoseconds latency{};
    Reply done = co_await send_body(e, latency);
    if (!done.positive()) {
      settle_failed(kind_of(done), describe("end of DATA", done));
      co_return !closing(done);
    }
    settle_ok(latency);
    co_return true;
  }

  // pipelined - MAIL, RCPT... and DATA in one write, then their replies in order.
  awaitable<bool> pipelined(const Envelope& e) {
    std::string batch = mail_from(e) + "\r\n";
    for (auto rcpt : e.recipients) batch += "RCPT TO:<" + std::string(rcpt) + ">\r\n";
    batch += "DATA\r\n";
    co_await client.write(batch);

    std::optional<std::pair<Failure, std::string>> failed;
    bool server_closing = false;
    Reply mail = co_await client.read_reply();
    if (!mail.positive()) failed.emplace(kind_of(mail), describe("MAIL", mail));
    server_closing = closing(mail);
    for (std::size_t i = 0; i < e.recipients.size() && !server_closing; ++i) {
      Reply r = co_await client.read_reply();
      if (!r.positive() && !failed) failed.emplace(kind_of(r), describe("RCPT", r));
      server_closing = closing(r);
    }
    if (server_closing) {
      if (failed) settle_failed(failed->first, failed->second);
      co_return false;
    }
    Reply data = co_await client.read_reply();
    if (data.code != 354) {
      if (!failed) failed.emplace(kind_of(data), describe("DATA", data));
      settle_failed(failed->first, failed->second);
      co_return co_await reset_unless_closing(data);
    }
    // DATA was accepted even though something before it failed: the body
    // must still be sent to keep the dialogue in step (RFC 2920 §3.1).
    std::chrono::nanoseconds latency{};
    Reply done = co_await send_body(e, latency);
    if (!failed && !done.positive()) failed.emplace(kind_of(done), describe("end of DATA", done));
    if (failed) {
      settle_failed(failed->first, failed->second);
    } else {
      settle_ok(latency);
    }
    co_return !closing(done);
  }

  // dialogue - the whole connection; the first message is already claimed.
  awaitable<void> dialogue() {
    co_await client.connect(run.server);
    ++results.connections;
    Reply banner = co_await client.read_reply();
    if (banner.code != 220) {
      settle_failed(kind_of(banner), describe("banner", banner));
      co_return;
    }
    Reply ehlo = co_await client.command("EHLO " + run.options.ehlo);
    if (!ehlo.positive()) {
      settle_failed(kind_of(ehlo), describe("EHLO", ehlo));
      co_return;
    }
    size_ext = ehlo.has_keyword("SIZE");
    pipelining = run.options.pipelining && ehlo.has_keyword("PIPELINING");
    for (std::uint32_t k = 0; k < run.options.per_connection; ++k) {
      if (k > 0 && !(pending = run.claim())) break;
      Envelope e = make_envelope(run, *pending);
      bool open = false;
      if (pipelining) {
        open = co_await pipelined(e);
      } else {
        open = co_await lockstep(e);
      }
      if (!open) co_return;
    }
    co_await client.command("QUIT");
  }
};

}  // namespace

Run::Run(const Options& o, Clock::time_point start)
    : options(o), server(asio::ip::make_address(o.server.host), o.server.port) {
  if (o.duration) stop_at_ = start + *o.duration;
}

std::optional<std::uint64_t> Run::claim() {
  if (stop_at_ && Clock::now() >= *stop_at_) return std::nullopt;
  std::uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  if (n >= options.messages) return std::nullopt;
  return n;
}

awaitable<void> run_session(Run& run, Results& results) {
  auto ex = co_await asio::this_coro::executor;
  // Bounded: every pass claims a message, and claim() stops after --messages.
  for (std::optional<std::uint64_t> pending = run.claim(); pending; pending = run.claim()) {
    Clock::time_point deadline = Clock::now() + run.options.timeout;
    SmtpClient client(asio::ip::tcp::socket(ex), deadline, run.options.timeout);
    Connection conn{run, client, results, pending};
    std::string error;
    try {
      if (!co_await with_deadline(conn.dialogue(), deadline)) error = "timed out";
    } catch (const std::system_error& e) {
      error = e.code().message();
    }
    // A message whose outcome is unknown is a failure; an error after the
    // last outcome (at QUIT, say) costs nothing.
    if (pending) results.fail(Failure::connection, "connection: " + error);
    client.close();
  }
}

}  // namespace aviary::loadgen
