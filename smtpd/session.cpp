// session.cpp - the SMTP session coroutine (RFC 5321 §3, §4.1).
//
// Read a command, answer it from the table, do the I/O the answer asks for
// (DATA, BDAT, STARTTLS), repeat. Replies are queued and flushed when no
// more pipelined input is waiting (RFC 2920), so a pipelined group costs one
// write, or when they pass Connection::flush_threshold.
//
// GCC 12 destroys temporaries in a co_await expression twice (PR 99576 and
// kin): coroutines here are only ever called with named objects.
#include "smtpd/session.hpp"

#include <asio/use_awaitable.hpp>
#include <ctime>

#include "common/header.hpp"
#include "common/log.hpp"
#include "service/authenticator.hpp"
#include "service/commit.hpp"
#include "service/drive_session.hpp"
#include "service/session_io.hpp"
#include "smtpd/command_parser.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/data_reader.hpp"
#include "smtpd/delivery.hpp"
#include "smtpd/message_buffer.hpp"
#include "storage/records.hpp"

namespace aviary::smtpd {
namespace {

// Bodies up to this size stay in memory; larger ones spill to a file.
constexpr std::size_t memory_per_message = 256 * 1024;

class Session {
 public:
  Session(service::Connection& conn, Services& svc, const ListenerPolicy& listener, std::shared_ptr<ServerTls> tls,
          service::SessionControl& control)
      : conn_(conn), io_(conn, std::move(tls)), svc_(svc), listener_(listener), control_(control) {
    state_.listener = listener_;
    state_.peer = service::address_text(conn_.peer());
  }

  asio::awaitable<void> run() {
    if (listener_.implicit_tls) co_await start_tls();  // RFC 8314 §3.3: TLS from the first byte
    io_.send(greeting(svc_));
    for (;;) {
      if (control_.stopping && state_.phase != Phase::mail && state_.phase != Phase::rcpt) {
        Reply goodbye(421, "4.3.2", svc_.config.hostname + " Service shutting down");
        co_return co_await io_.close_with(goodbye);
      }
      if (conn_.should_flush()) co_await conn_.flush();
      control_.idle = state_.phase == Phase::connected || state_.phase == Phase::greeted;
      conn_.set_timeout(read_timeout(svc_.config.smtpd.command_timeout));
      service::Line line = co_await conn_.read_line(max_command_line);
      control_.idle = false;
      ++commands_;

      Reply reply = line.too_long ? Reply(500, "5.5.2", "Error: line too long")
                                  : handle_command(state_, svc_, line.text);
      while (reply.is<next::SaslContinue>()) reply = co_await sasl_continue(reply);
      if (auto* credentials = std::get_if<next::Authenticate>(&reply.next)) {
        next::Authenticate given = std::move(*credentials);
        reply = co_await authenticate(given);
      } else if (reply.is<next::ReadData>()) {
        reply = co_await read_data(reply);
      } else if (auto* chunk = std::get_if<next::ReadChunk>(&reply.next)) {
        next::ReadChunk announced = *chunk;
        reply = co_await read_chunk(reply, announced);
      } else if (reply.is<next::StartTls>()) {
        co_await io_.start_tls_after(reply);
        restart_after_tls();
        continue;
      } else if (reply.is<next::Close>()) {
        co_return co_await io_.close_with(reply);
      }
      if (reply.is_error() && ++state_.errors >= svc_.config.smtpd.max_errors) {
        io_.send(reply);
        // Slow down clients that make errors: they are gone after this.
        Reply goodbye(421, "4.7.0", svc_.config.hostname + " Error: too many errors");
        co_return co_await io_.close_with(goodbye);
      }
      io_.send(reply);
    }
  }

  // What the client hears when the connection is interrupted.
  asio::awaitable<void> interrupted() {
    Reply reply = conn_.interrupted() == service::Interrupt::timeout
                      ? Reply(421, "4.4.2", svc_.config.hostname + " Error: timeout exceeded")
                      : Reply(421, "4.3.2", svc_.config.hostname + " Service shutting down");
    co_await io_.close_with(reply);
  }

  std::string summary() const {
    return "commands=" + std::to_string(commands_) + " messages=" + std::to_string(messages_);
  }

 private:
  // Postfix's stress mode: while the pool is nearly full, every new read
  // gets at most smtpd.stress_command_timeout, so that idle and slow
  // clients make room for new ones.
  std::chrono::seconds read_timeout(std::chrono::seconds normal) const {
    return control_.under_stress() ? std::min(normal, svc_.config.smtpd.stress_command_timeout) : normal;
  }

  asio::awaitable<void> start_tls() {
    co_await io_.start_tls();
    restart_after_tls();
  }

  // RFC 3207 §4.2: the client starts again from the greeting; nothing it
  // said before the handshake counts.
  void restart_after_tls() {
    state_ = SessionState{};
    state_.listener = listener_;
    state_.peer = service::address_text(conn_.peer());
    state_.tls = true;
  }

  // RFC 4954 §4: a 334 challenge, then one base64 line from the client.
  asio::awaitable<Reply> sasl_continue(const Reply& challenge) {
    io_.send(challenge);
    co_await conn_.flush();
    service::Line line = co_await conn_.read_line(max_sasl_line);
    if (line.too_long) {
      state_.sasl = SaslExchange{};
      co_return Reply(500, "5.5.6", "Authentication exchange line is too long");
    }
    co_return handle_sasl_response(state_, line.text);
  }

  asio::awaitable<Reply> authenticate(const next::Authenticate& credentials) {
    state_.sasl = SaslExchange{};
    service::AuthResult auth = co_await svc_.authenticator->verify(state_.peer, credentials.user, credentials.password);
    const std::string what = "AUTH " + credentials.mechanism;
    svc_.metrics.auth_attempt(service::auth_outcome_label(auth, "smtpd", what, state_.peer, credentials.user));
    switch (auth.outcome) {
      case service::AuthOutcome::success:
        state_.auth_user = auth.address;
        log::info("smtpd: ", what, " user=", auth.address, " from [", state_.peer, "]");
        co_return Reply(235, "2.7.0", "Authentication successful");
      case service::AuthOutcome::throttled:
        co_return Reply(454, "4.7.0", "Temporary authentication failure: too many failures, try later");
      case service::AuthOutcome::failure:
        break;
    }
    co_return Reply(535, "5.7.8", "Authentication credentials invalid");
  }

  // DATA (RFC 5321 §4.1.1.4): 354, then the body up to <CRLF>.<CRLF>.
  asio::awaitable<Reply> read_data(const Reply& go_ahead) {
    io_.send(go_ahead);
    co_await conn_.flush();
    auto body = std::make_unique<MessageBuffer>(svc_.spill_dir, memory_per_message);
    DataReader reader(svc_.config.smtpd.max_message_size, *body);
    service::DeadlineScope data_deadline(conn_, svc_.config.smtpd.data_deadline);
    conn_.set_timeout(read_timeout(svc_.config.smtpd.data_timeout));
    while (!reader.done()) {
      if (conn_.buffered().empty()) co_await conn_.fill();
      conn_.consume(reader.feed(conn_.buffered()));
    }
    switch (reader.problem()) {
      case BodyProblem::none: break;
      case BodyProblem::too_big: co_return reject("size", Reply(552, "5.3.4", "Message size exceeds fixed limit"));
      case BodyProblem::bare_line_end:
        co_return reject("bare_line_end", Reply(550, "5.6.0", "Bare CR or LF in message not allowed"));
    }
    if (body->failed()) co_return spill_failed(*body);
    co_return co_await deliver(body);
  }

  // BDAT (RFC 3030): exactly the announced octets, whatever the answer.
  // The chunks so far live in the transaction (state_.txn), so whatever
  // ends the transaction also throws them away.
  asio::awaitable<Reply> read_chunk(const Reply& go_ahead, const next::ReadChunk& chunk) {
    Reply reply = go_ahead;
    reply.next = {};
    std::uint64_t left = chunk.size;
    bool keep = reply.code == 250;
    Transaction& txn = state_.txn;
    if (keep && !txn.chunks) txn.chunks = std::make_unique<MessageBuffer>(svc_.spill_dir, memory_per_message);
    service::DeadlineScope data_deadline(conn_, svc_.config.smtpd.data_deadline);
    conn_.set_timeout(read_timeout(svc_.config.smtpd.data_timeout));
    while (left > 0) {
      if (conn_.buffered().empty()) co_await conn_.fill();
      std::string_view piece = conn_.buffered().substr(0, left);
      if (keep) {
        txn.line_check.feed(piece);
        if (txn.chunks->size() + piece.size() <= svc_.config.smtpd.max_message_size) {
          txn.chunks->append(piece);
        } else {
          txn.chunk_overflow = true;
        }
      }
      conn_.consume(piece.size());
      left -= piece.size();
    }
    if (!keep) co_return reply;
    Reply failure;
    bool failed = false;
    if (txn.chunks->failed()) {
      failure = spill_failed(*txn.chunks);
      failed = true;
    } else if (txn.chunk_overflow) {
      failure = reject("size", Reply(552, "5.3.4", "Message size exceeds fixed limit"));
      failed = true;
    } else if (!txn.line_check.ok() || (chunk.last && !txn.line_check.ok_at_end())) {
      failure = reject("bare_line_end", Reply(550, "5.6.0", "Bare CR or LF in message not allowed"));
      failed = true;
    }
    if (failed) {
      // reject() ended the transaction (and its chunks); the chunks still
      // to come are read and refused until RSET or a new MAIL.
      state_.txn.bdat_failed = true;
      co_return failure;
    }
    if (!chunk.last) co_return reply;
    auto body = std::move(txn.chunks);
    co_return co_await deliver(body);
  }

  // The body could not be kept (RFC 5321 §4.2.4: a local error, try later).
  Reply spill_failed(const MessageBuffer& body) {
    log::error("smtpd: message from [", state_.peer, "] not kept: ", body.error());
    return reject("storage", Reply(451, "4.3.0", "Local error in processing"));
  }

  Reply reject(const char* reason, Reply reply) {
    svc_.metrics.message_rejected(reason);
    log::info("smtpd: rejected message from [", state_.peer, "]: ", reason);
    state_.reset_transaction();
    return reply;
  }

  // One commit for every local copy and the queue entry; 250 only after it.
  asio::awaitable<Reply> deliver(std::unique_ptr<MessageBuffer>& body) {
    // RFC 5321 §6.3: a message that went round this often is in a loop;
    // refused on every listener, before anything is stored.
    if (header::received_count(body->head(header_scan_limit)) > svc_.config.smtpd.max_hops) {
      co_return reject("hops", Reply(554, "5.4.0", "Error: too many hops"));
    }
    auto delivery = std::make_shared<Delivery>();
    delivery->id = header::new_message_id();
    delivery->sender = state_.txn.sender;
    delivery->local = state_.txn.local;
    delivery->remote = state_.txn.remote;
    delivery->arrival = static_cast<std::int64_t>(std::time(nullptr));
    if (state_.txn.body != BodyType::seven_bit) delivery->body_flags |= storage::body_8bit;
    if (state_.txn.smtputf8) delivery->body_flags |= storage::body_smtputf8;
    TraceInfo trace;
    trace.helo = helo_for_trace(state_.helo);
    trace.peer = state_.peer;
    trace.hostname = svc_.config.hostname;
    // RFC 3848: ESMTP, plus S for TLS, plus A for AUTH.
    trace.protocol = !state_.esmtp ? "SMTP" : std::string("ESMTP") + (state_.tls ? "S" : "") + (state_.auth_user.empty() ? "" : "A");
    if (state_.tls) trace.tls = conn_.tls_version() + " " + conn_.tls_cipher();
    trace.id = delivery->id;
    if (state_.txn.recipients.size() == 1) trace.for_recipient = state_.txn.recipients.front();
    trace.when = delivery->arrival;
    delivery->header = received_header(trace);
    delivery->hostname = svc_.config.hostname;
    delivery->body = std::move(body);
    if (listener_.completes_origin_fields) {
      // RFC 6409 §8.2-8.3: the submission server completes what the client left out.
      delivery->header += header::missing_origin_fields(delivery->body->head(header_scan_limit), delivery->id,
                                                 svc_.config.hostname, delivery->arrival);
    }
    std::uint64_t size = delivery->header.size() + delivery->body->size();

    auto request = storage_delivery(delivery);
    service::Write write = [this, &request](storage::Done done) { svc_.store.deliver(request, std::move(done)); };
    Status stored = co_await service::commit(write);
    std::string recipients;
    for (const auto& r : state_.txn.recipients) recipients += (recipients.empty() ? "<" : ",<") + r + ">";
    state_.reset_transaction();
    if (!stored && stored.error().code == Errc::over_quota) {
      // RFC 1893 X.2.2: full at commit (concurrent sessions passed RCPT together).
      log::info("smtpd: id=", delivery->id, " refused: every mailbox is over its quota");
      svc_.metrics.message_rejected("quota");
      co_return Reply(552, "5.2.2", "Mailbox full");
    }
    if (!stored) {
      log::error("smtpd: id=", delivery->id, " not stored: ", stored.error().message);
      svc_.metrics.message_rejected("storage");
      if (stored.error().code == Errc::storage_full) co_return Reply(452, "4.3.1", "Insufficient system storage");
      co_return Reply(451, "4.3.0", "Local error in processing");
    }
    ++messages_;
    state_.junk_commands = 0;  // as Postfix: a client that delivers mail is not idling
    if (!delivery->remote.empty() && svc_.relay_wakeup) svc_.relay_wakeup();
    svc_.metrics.message_received(std::string(listener_.name), size);
    log::info("smtpd: id=", delivery->id, " from=<", delivery->sender, "> to=", recipients, " size=", size,
              " peer=[", state_.peer, "]");
    co_return Reply(250, "2.0.0", "Ok: queued as " + delivery->id);
  }

  static constexpr std::size_t max_sasl_line = 12288;  // RFC 4954 §4
  static constexpr std::size_t header_scan_limit = 256 * 1024;

  service::Connection& conn_;
  service::SessionIo io_;
  Services& svc_;
  ListenerPolicy listener_;
  service::SessionControl& control_;
  SessionState state_;
  unsigned commands_ = 0;
  unsigned messages_ = 0;
};

}  // namespace

asio::awaitable<void> run_session(service::Socket socket, Services& services, ListenerPolicy listener,
                                  std::shared_ptr<ServerTls> tls, std::shared_ptr<service::SessionControl> control) {
  service::Connection conn(std::move(socket));
  // However busy the client keeps it, no session holds its slot for longer.
  conn.set_deadline(std::chrono::steady_clock::now() + services.config.smtpd.session_deadline);
  const std::string name(listener.name);
  services.metrics.connection_opened(name);
  Session session(conn, services, listener, std::move(tls), *control);
  co_await service::serve_session(session, conn, *control, "smtpd", name);
  services.metrics.connection_closed(name);
}

}  // namespace aviary::smtpd
