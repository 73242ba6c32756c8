// smtp_client.cpp - see smtp_client.hpp.
#include "relay/smtp_client.hpp"

#include <asio/connect.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <limits>

#include "common/address.hpp"
#include "common/log.hpp"
#include "service/message_streamer.hpp"

namespace aviary::relay {
namespace {

using std::chrono::seconds;

// RFC 5321 §4.5.3.2 client timeouts; connecting gets Postfix's 30 s.
constexpr seconds connect_timeout{30};
constexpr seconds greeting_timeout{300};
constexpr seconds mail_timeout{300};
constexpr seconds rcpt_timeout{300};
constexpr seconds data_init_timeout{120};
constexpr seconds data_block_timeout{180};
constexpr seconds data_end_timeout{600};
constexpr seconds quit_timeout{10};

constexpr std::size_t max_reply_line = 4096;
constexpr std::size_t max_reply_lines = 200;

RecipientOutcome from_reply(const ServerReply& reply, const std::string& peer) {
  RecipientOutcome out;
  out.remote_reply = reply.code != 0;
  out.diagnostic = reply.code != 0 ? reply.text() : "lost connection with " + peer;
  if (reply.positive()) {
    out.outcome = Outcome::delivered;
  } else if (reply.transient()) {
    out.outcome = Outcome::deferred;
  } else {
    out.outcome = Outcome::failed;
  }
  // RFC 3463 §3.1: the class of the status is the outcome's; an enhanced
  // code that contradicts the reply code (a "354 2.0.0" to RCPT) is not used.
  const char cls = out.outcome == Outcome::failed ? '5' : out.outcome == Outcome::deferred ? '4' : '2';
  out.status = reply.enhanced();
  if (out.status.empty() || out.status[0] != cls) out.status = std::string(1, cls) + ".0.0";
  if (reply.code >= 300 && reply.code < 400) out.status = "4.5.0";  // unexpected intermediate reply
  return out;
}

RecipientOutcome ours(Outcome outcome, std::string status, std::string diagnostic) {
  return {outcome, std::move(status), std::move(diagnostic), false};
}

}  // namespace

SmtpClient::SmtpClient(service::Executor executor, const ClientSettings& settings)
    : executor_(std::move(executor)), settings_(settings), deadline_(executor_) {}

SmtpClient::~SmtpClient() { *alive_ = false; }

struct SmtpClient::Deadline {
  SmtpClient& client;
  Deadline(SmtpClient& c, seconds limit) : client(c) { client.arm_deadline(limit); }
  ~Deadline() { client.disarm_deadline(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
};

void SmtpClient::arm_deadline(seconds limit) {
  deadline_passed_ = false;
  deadline_limit_ = limit;
  deadline_.expires_after(limit);
  // Runs on the client's strand, like the coroutine; `alive` guards a late
  // expiry after the client is gone.
  deadline_.async_wait([this, alive = alive_](std::error_code ec) {
    if (ec || !*alive) return;
    deadline_passed_ = true;
    if (conn_) conn_->interrupt(service::Interrupt::timeout);
  });
}

void SmtpClient::disarm_deadline() { deadline_.cancel(); }

std::string SmtpClient::deadline_text() const {
  return peer_ + " took longer than relay.transaction_deadline (" + std::to_string(deadline_limit_.count()) + "s)";
}

void SmtpClient::drop() {
  if (conn_) conn_->close();
  conn_.reset();
}

asio::awaitable<ServerReply> SmtpClient::read_reply(seconds timeout) {
  ReplyAssembler assembler;
  conn_->set_timeout(timeout);
  for (std::size_t i = 0; i < max_reply_lines; ++i) {
    service::Line line = co_await conn_->read_line(max_reply_line);
    if (line.too_long) break;
    if (assembler.add(line.text)) co_return assembler.take();
  }
  co_return ServerReply{};  // malformed: code 0
}

asio::awaitable<ServerReply> SmtpClient::command(const std::string& line, seconds timeout) {
  conn_->queue(line);
  conn_->queue("\r\n");
  conn_->set_timeout(timeout);
  co_await conn_->flush();
  ServerReply reply = co_await read_reply(timeout);
  co_return reply;
}

asio::awaitable<std::optional<std::string>> SmtpClient::connect(const std::vector<Target>& targets) {
  std::string why = "no address to connect to";
  for (const auto& target : targets) {
    auto failed = co_await open(target, settings_.tls != nullptr);
    // Opportunistic TLS: a server whose handshake fails gets the mail in
    // plaintext, on a new connection (Postfix "may").
    if (failed && *failed == "TLS handshake failed") {
      log::warning("relay: TLS with ", target.host, "[", target.ip, "] failed; retrying without TLS");
      failed = co_await open(target, false);
    }
    if (!failed) co_return std::nullopt;
    why = *failed;
    log::info("relay: ", target.host, "[", target.ip, "]:", target.port, ": ", why);
  }
  co_return why;
}

asio::awaitable<std::optional<std::string>> SmtpClient::open(const Target& target, bool use_tls) {
  drop();
  peer_ = target.host + "[" + target.ip + "]";
  std::error_code ec;
  auto address = asio::ip::make_address(target.ip, ec);
  if (ec) co_return "bad address " + target.ip;
  service::Socket socket(executor_);
  {
    // The timer closes the socket if connecting takes too long; `done` keeps a
    // late expiry from touching the socket after it has moved on.
    auto done = std::make_shared<bool>(false);
    asio::steady_timer timer(executor_);
    timer.expires_after(connect_timeout);
    timer.async_wait([&socket, done](std::error_code e) {
      if (!e && !*done) {
        std::error_code ignored;
        socket.close(ignored);
      }
    });
    asio::ip::tcp::endpoint endpoint(address, target.port);
    try {
      co_await socket.async_connect(endpoint, asio::use_awaitable);
    } catch (const std::system_error& e) {
      ec = e.code();
    }
    *done = true;
    timer.cancel();
    if (ec) co_return "connect to " + peer_ + ":" + std::to_string(target.port) + ": " + ec.message();
  }
  conn_ = std::make_unique<service::Connection>(std::move(socket));
  dirty_ = false;
  Deadline deadline(*this, settings_.transaction_deadline);
  try {
    ServerReply greeting = co_await read_reply(greeting_timeout);
    if (greeting.code != 220) {
      drop();
      co_return peer_ + " greeted with " + greeting.text();
    }
    std::string ehlo_line = "EHLO " + settings_.hostname;
    ServerReply ehlo = co_await command(ehlo_line, greeting_timeout);
    if (ehlo.code == 0) {
      drop();
      co_return peer_ + " dropped the connection after EHLO";
    }
    if (!ehlo.positive()) {
      std::string helo_line = "HELO " + settings_.hostname;
      ServerReply helo = co_await command(helo_line, greeting_timeout);
      if (!helo.positive()) {
        drop();
        co_return peer_ + " refused HELO: " + helo.text();
      }
      ext_ = {};
      co_return std::nullopt;
    }
    ext_ = parse_extensions(ehlo);
    if (use_tls && ext_.starttls) {
      std::string starttls = "STARTTLS";
      ServerReply go = co_await command(starttls, greeting_timeout);
      if (go.code == 220) {
        try {
          conn_->set_timeout(greeting_timeout);
          co_await conn_->start_tls_client(*settings_.tls, target.host);
        } catch (const std::exception&) {
          drop();
          // Not retried in plaintext: the peer was too slow, not TLS broken.
          if (deadline_passed_) co_return deadline_text() + " while greeting";
          co_return "TLS handshake failed";
        }
        conn_->discard_buffered();
        ServerReply again = co_await command(ehlo_line, greeting_timeout);
        if (!again.positive()) {
          drop();
          co_return peer_ + " refused EHLO after STARTTLS: " + again.text();
        }
        ext_ = parse_extensions(again);
      }
    }
  } catch (const std::system_error& e) {
    drop();
    if (deadline_passed_) co_return deadline_text() + " while greeting";
    co_return "lost connection with " + peer_ + " while greeting: " + e.code().message();
  }
  co_return std::nullopt;
}

asio::awaitable<void> SmtpClient::send_body(const OutboundMessage& m) {
  const auto body = service::StoredMessage::queued(m.blob_id);
  service::StreamOptions options;
  // After the deadline an interrupted connection still takes writes for a
  // few seconds each; a slow reader must not stretch that piece by piece.
  options.before_write = [this] {
    if (deadline_passed_) throw std::system_error(asio::error::timed_out);
  };
  conn_->set_timeout(data_block_timeout);
  auto outcome = co_await service::stream_message(*conn_, *settings_.store, body, options);
  if (outcome != service::StreamOutcome::sent) throw std::runtime_error("the message body is missing from the store");
}

asio::awaitable<std::vector<RecipientOutcome>> SmtpClient::send(const OutboundMessage& m) {
  const std::size_t n = m.recipients.size();
  std::vector<RecipientOutcome> out(n);
  auto all = [&](const RecipientOutcome& o) {
    for (auto& r : out) r = o;
    return out;
  };
  if (!conn_) co_return all(ours(Outcome::deferred, "4.4.1", "not connected"));

  // What the server must support before it may have this message.
  bool utf8 = (m.flags & storage::body_smtputf8) || !is_ascii(m.sender) ||
              std::any_of(m.recipients.begin(), m.recipients.end(), [](const std::string& r) { return !is_ascii(r); });
  if (utf8 && !ext_.smtputf8)
    co_return all(ours(Outcome::failed, "5.6.7", peer_ + " does not support SMTPUTF8, which this message needs"));
  // The content decides, not what the client declared: a message that
  // claims 7BIT but carries 8-bit octets is still 8-bit on the wire.
  bool eight_bit = false;
  settings_.store->read_body(m.blob_id, 0, std::numeric_limits<std::size_t>::max(),
                             [&eight_bit](std::string_view piece) { eight_bit = eight_bit || !is_ascii(piece); });
  if (eight_bit && !ext_.eightbitmime)
    co_return all(ours(Outcome::failed, "5.6.3",
                       peer_ + " does not support 8BITMIME and this 8-bit message cannot be converted"));
  if (ext_.size && ext_.max_size > 0 && m.size > ext_.max_size)
    co_return all(ours(Outcome::failed, "5.3.4", "message size " + std::to_string(m.size) + " exceeds the limit of " + peer_ +
                                                     " (" + std::to_string(ext_.max_size) + ")"));

  std::string mail = "MAIL FROM:<" + m.sender + ">";
  if (ext_.size) mail += " SIZE=" + std::to_string(m.size);
  if (eight_bit) mail += " BODY=8BITMIME";
  if (utf8) mail += " SMTPUTF8";

  Deadline deadline(*this, settings_.transaction_deadline);
  std::string why;
  try {
    if (dirty_) {
      std::string rset = "RSET";
      ServerReply reset = co_await command(rset, mail_timeout);
      if (!reset.positive()) {
        drop();
        co_return all(ours(Outcome::deferred, "4.4.2", peer_ + " refused RSET: " + reset.text()));
      }
    }
    dirty_ = true;
    std::vector<ServerReply> rcpt(n);
    ServerReply mail_reply, data_reply;
    if (ext_.pipelining) {
      // RFC 2920: the envelope and DATA in one write, the replies in order.
      conn_->queue(mail + "\r\n");
      for (const auto& r : m.recipients) conn_->queue("RCPT TO:<" + r + ">\r\n");
      conn_->queue("DATA\r\n");
      conn_->set_timeout(mail_timeout);
      co_await conn_->flush();
      mail_reply = co_await read_reply(mail_timeout);
      for (auto& r : rcpt) r = co_await read_reply(rcpt_timeout);
      data_reply = co_await read_reply(data_init_timeout);
    } else {
      mail_reply = co_await command(mail, mail_timeout);
      if (mail_reply.positive()) {
        for (std::size_t i = 0; i < n; ++i) {
          std::string line = "RCPT TO:<" + m.recipients[i] + ">";
          rcpt[i] = co_await command(line, rcpt_timeout);
        }
        if (std::any_of(rcpt.begin(), rcpt.end(), [](const ServerReply& r) { return r.positive(); })) {
          std::string data = "DATA";
          data_reply = co_await command(data, data_init_timeout);
        }
      }
    }
    if (mail_reply.code == 0 || (ext_.pipelining && data_reply.code == 0)) {
      drop();
      co_return all(ours(Outcome::deferred, "4.4.2", "lost connection with " + peer_ + " during the envelope"));
    }
    if (!mail_reply.positive()) {
      if (data_reply.code == 354) {
        // RFC 2920 §3.1: a server that said 354 anyway gets an empty message.
        conn_->queue(".\r\n");
        co_await conn_->flush();
        ServerReply ignored = co_await read_reply(data_end_timeout);
      }
      co_return all(from_reply(mail_reply, peer_));
    }
    bool any_accepted = false;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = from_reply(rcpt[i], peer_);
      if (out[i].outcome == Outcome::delivered) any_accepted = true;
    }
    if (data_reply.code == 354 && !any_accepted) {
      conn_->queue(".\r\n");
      co_await conn_->flush();
      ServerReply ignored = co_await read_reply(data_end_timeout);
      co_return out;
    }
    if (!any_accepted) co_return out;
    if (data_reply.code != 354) {
      RecipientOutcome o = from_reply(data_reply, peer_);
      if (o.outcome == Outcome::delivered) o = ours(Outcome::deferred, "4.5.0", peer_ + " answered DATA with " + data_reply.text());
      for (auto& r : out)
        if (r.outcome == Outcome::delivered) r = o;
      co_return out;
    }
    co_await send_body(m);
    ServerReply final_reply = co_await read_reply(data_end_timeout);
    if (final_reply.code == 0) {
      drop();
      // RFC 5321 §4.5.3.2.6 / RFC 1047: unsure whether it arrived; deferring
      // risks a duplicate, which is better than a loss.
      for (auto& r : out)
        if (r.outcome == Outcome::delivered) r = ours(Outcome::deferred, "4.4.2", "lost connection with " + peer_ + " after the data");
      co_return out;
    }
    dirty_ = false;
    RecipientOutcome o = from_reply(final_reply, peer_);
    for (auto& r : out)
      if (r.outcome == Outcome::delivered) r = o;
    co_return out;
  } catch (const std::system_error& e) {
    why = deadline_passed_ ? deadline_text() : "lost connection with " + peer_ + ": " + e.code().message();
  } catch (const std::exception& e) {
    // Not the peer: our side failed mid-transaction (the body was deleted
    // by `aviaryctl queue del`, the store failed). The connection is in an
    // unknown state, maybe inside DATA: it is dropped, never ended with ".".
    why = std::string("local error during the transaction with ") + peer_ + ": " + e.what();
  }
  drop();
  for (auto& r : out)
    if (r.diagnostic.empty() || r.outcome == Outcome::delivered) r = ours(Outcome::deferred, "4.4.2", why);
  co_return out;
}

asio::awaitable<void> SmtpClient::quit() {
  if (!conn_) co_return;
  Deadline deadline(*this, quit_timeout);
  try {
    std::string quit = "QUIT";
    ServerReply bye = co_await command(quit, quit_timeout);
  } catch (const std::exception&) {
    // It is going away either way.
  }
  drop();
}

}  // namespace aviary::relay
