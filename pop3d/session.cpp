// session.cpp - the POP3 session coroutine (RFC 1939 §3-§6).
//
// Read a command, answer it from the state's table, do what the answer asks
// (log in, stream a message, STLS, the UPDATE at QUIT), repeat.
//
// GCC 12 destroys temporaries in a co_await expression twice (PR 99576 and
// kin): coroutines here are only ever called with named objects.
#include "pop3d/session.hpp"

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "common/log.hpp"
#include "common/message_stream.hpp"
#include "pop3d/commands.hpp"
#include "service/commit.hpp"
#include "service/drive_session.hpp"
#include "service/message_streamer.hpp"
#include "service/session_io.hpp"

namespace aviary::pop3d {
namespace {

class Session {
 public:
  Session(service::Connection& conn, Services& svc, const ListenerPolicy& listener, service::SessionControl& control)
      : conn_(conn), io_(conn, svc.tls), svc_(svc), listener_(listener), control_(control) {
    state_.tls_available = svc_.tls != nullptr && listener_.offers_stls;
    state_.allow_plaintext = svc_.config.pop3d.allow_plaintext_auth;
    peer_ = service::address_text(conn_.peer());
  }

  asio::awaitable<void> run() {
    if (listener_.implicit_tls) co_await start_tls();
    io_.send(Reply::success("Aviary POP3 ready"));
    for (;;) {
      if (conn_.should_flush()) co_await conn_.flush();
      control_.idle = true;  // nothing is half done between POP3 commands
      conn_.set_timeout(svc_.config.pop3d.idle_timeout);
      service::Line line = co_await conn_.read_line(max_command_line);
      control_.idle = false;
      if (control_.stopping) {
        Reply goodbye = shutting_down();
        co_return co_await io_.close_with(goodbye);
      }

      Reply reply = line.too_long ? Reply::bad("Line too long") : handle_command(state_, line.text);
      if (reply.is<next::SaslContinue>()) reply = co_await sasl_continue();
      if (auto* credentials = std::get_if<next::Authenticate>(&reply.next)) {
        next::Authenticate given = std::move(*credentials);
        reply = co_await authenticate(given.user, given.secret);
      } else if (reply.is<next::StartTls>()) {
        co_await io_.start_tls_after(reply);
        state_.tls_started();
        continue;
      } else if (reply.is<next::SendMessage>()) {
        if (!co_await send_message(reply)) co_return;
        continue;
      } else if (reply.is<next::Update>()) {
        co_return co_await update();
      } else if (reply.is<next::Close>()) {
        co_return co_await io_.close_with(reply);
      }
      // Only unknown commands and syntax errors count (as Dovecot): a
      // client asking for a message that is not there is not misbehaving.
      if (reply.bad_command && ++state_.errors >= svc_.config.pop3d.max_errors) {
        io_.send(reply);
        Reply goodbye = Reply::failure("Too many bad commands, closing connection");
        co_return co_await io_.close_with(goodbye);
      }
      io_.send(reply);
    }
  }

  // The last word after a timeout or shutdown; deletions are not applied.
  asio::awaitable<void> interrupted() {
    Reply goodbye = conn_.interrupted() == service::Interrupt::timeout ? Reply::failure("Disconnected for inactivity")
                                                                   : shutting_down();
    co_await io_.close_with(goodbye);
  }

  std::string summary() const { return "user=" + logged_in_; }

 private:
  static Reply shutting_down() { return Reply::failure("Server shutting down", "SYS/TEMP"); }

  asio::awaitable<void> start_tls() {
    co_await io_.start_tls();
    state_.tls_started();
  }

  // RFC 5034 §4: "+ " then the client's base64 response on one line.
  asio::awaitable<Reply> sasl_continue() {
    conn_.queue("+ \r\n");
    co_await conn_.flush();
    service::Line line = co_await conn_.read_line(max_sasl_line);
    if (line.too_long) {
      Reply refused = Reply::failure("SASL response too long", "AUTH");
      refused.bad_command = true;
      co_return refused;
    }
    co_return plain_response(line.text);
  }

  asio::awaitable<Reply> authenticate(const std::string& name, const std::string& password) {
    service::AuthResult auth = co_await svc_.authenticator.verify(peer_, name, password);
    if (auth.outcome != service::AuthOutcome::success) {
      svc_.metrics.login(service::auth_outcome_label(auth, "pop3d", "login", peer_, name));
      if (auth.outcome == service::AuthOutcome::throttled) {
        co_return Reply::failure("Too many failed logins from your address, try again later", "SYS/TEMP");
      }
      co_return Reply::failure("Authentication failed", "AUTH");
    }
    const std::string& address = auth.address;
    auto drop = Maildrop::open(svc_.store, address);
    if (!drop) {
      if (drop.error().code == Errc::exists) {
        svc_.metrics.login("in_use");
        co_return Reply::failure("Mailbox is locked by another POP3 session", "IN-USE");
      }
      log::error("pop3d: cannot open maildrop ", address, ": ", drop.error().message);
      co_return Reply::failure("Cannot open the mailbox", "SYS/TEMP");
    }
    state_.maildrop = std::move(drop).value();
    state_.state = State::transaction;
    logged_in_ = address;
    svc_.metrics.login("success");
    log::info("pop3d: login user=", address, " from [", peer_, "] messages=", state_.maildrop->count());
    co_return Reply::success("Logged in, " + std::to_string(state_.maildrop->live_count()) + " messages");
  }

  // RETR/TOP: the +OK and the message, piece by piece. Returns false if the
  // message was removed (aviaryctl user del) after its first piece went
  // out: a multi-line response cannot be taken back, and one cut short
  // would make the client read the replies that follow as message text, so
  // the connection has been closed instead.
  asio::awaitable<bool> send_message(const Reply& reply) {
    const next::SendMessage& want = std::get<next::SendMessage>(reply.next);
    const storage::MessageInfo* info = state_.maildrop->find(want.message);
    service::StoredMessage message = service::StoredMessage::in_mailbox(state_.maildrop->user_id(), info->uid);
    service::StreamOptions options;
    options.top_lines = want.top_lines;
    options.lead = format(reply);
    options.written = [this](std::size_t bytes) { svc_.metrics.bytes_sent(bytes); };
    service::StreamOutcome sent = co_await service::stream_message(conn_, svc_.store, message, options);
    if (sent == service::StreamOutcome::gone) {
      // Removed by an administrator since the snapshot.
      io_.send(Reply::failure("Message " + std::to_string(want.message) + " is gone"));
      co_return true;
    }
    if (sent == service::StreamOutcome::gone_midway) {
      log::warning("pop3d: message ", want.message, " of ", logged_in_,
                   " was removed while being sent; closing the connection");
      conn_.close();
      co_return false;
    }
    if (!want.top_lines) svc_.metrics.retrieved();
    co_return true;
  }

  // RFC 1939 §6: the UPDATE state, all deletions in one commit, then goodbye.
  asio::awaitable<void> update() {
    std::size_t marked = state_.maildrop->marked();
    if (marked > 0) {
      service::Write write = [this](storage::Done done) { state_.maildrop->delete_marked(svc_.store, std::move(done)); };
      Status done = co_await service::commit(write);
      if (!done) {
        log::error("pop3d: deleting for ", logged_in_, " failed: ", done.error().message);
        Reply failed = Reply::failure("Deleting messages failed; none were deleted", "SYS/TEMP");
        co_return co_await io_.close_with(failed);
      }
      svc_.metrics.deleted(marked);
      log::info("pop3d: user=", logged_in_, " deleted=", marked);
    }
    Reply goodbye = Reply::success("Logging out");
    co_await io_.close_with(goodbye);
  }

  static constexpr std::size_t max_sasl_line = 2048;

  service::Connection& conn_;
  service::SessionIo io_;
  Services& svc_;
  ListenerPolicy listener_;
  service::SessionControl& control_;
  SessionState state_;
  std::string peer_;
  std::string logged_in_;
};

}  // namespace

asio::awaitable<void> run_session(service::Socket socket, Services& services, ListenerPolicy listener,
                                  std::shared_ptr<service::SessionControl> control) {
  service::Connection conn(std::move(socket));
  const std::string name(listener.name);
  services.metrics.connection_opened(name);
  Session session(conn, services, listener, *control);
  co_await service::serve_session(session, conn, *control, "pop3d", name);
  services.metrics.connection_closed();
}

}  // namespace aviary::pop3d
