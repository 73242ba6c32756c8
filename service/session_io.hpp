// session_io.hpp - what the SMTP and the POP3 session do alike around their
// replies: queue one, say the last word and close, upgrade to TLS, and tell
// the metrics and the log what a password check came to.
//
// Replies are the daemon's own type; `format(reply)` (found by ADL) makes
// them wire text.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "service/authenticator.hpp"
#include "service/connection.hpp"

namespace asio::ssl {
class context;
}

namespace aviary {
class ServerTls;
}

namespace aviary::service {

class SessionIo {
 public:
  // `tls` is null without [tls]; then start_tls() must not be called.
  SessionIo(Connection& conn, std::shared_ptr<ServerTls> tls);
  ~SessionIo();
  SessionIo(const SessionIo&) = delete;
  SessionIo& operator=(const SessionIo&) = delete;

  // Queued, to go out with the next flush (pipelined replies share a write).
  template <class Reply>
  void send(const Reply& reply) {
    conn_.queue(format(reply));
  }

  // The last word: `reply`, flushed, then the connection closed.
  template <class Reply>
  asio::awaitable<void> close_with(const Reply& reply) {
    send(reply);
    co_await conn_.flush();
    conn_.close();
  }

  // STARTTLS and STLS: `reply` ("go ahead") in the clear, then the handshake.
  template <class Reply>
  asio::awaitable<void> start_tls_after(const Reply& reply) {
    send(reply);
    co_await conn_.flush();
    co_await start_tls();
  }

  // The handshake under the certificate current now (SIGHUP may replace it
  // later; this session keeps this one). RFC 3207 §4.2, RFC 2595 §4: what
  // the client pipelined before it was sent in the clear and is thrown away,
  // never answered inside TLS.
  asio::awaitable<void> start_tls();

 private:
  Connection& conn_;
  std::shared_ptr<ServerTls> tls_;
  std::shared_ptr<asio::ssl::context> context_;  // set by start_tls()
};

// The metrics label of a password check's outcome ("success", "failure",
// "throttled"). A refusal is logged as "<daemon>: <what> refused for [peer]:
// too many failures" or "<daemon>: <what> failed for [peer] user=<user>";
// a success is the daemon's to log (it knows what follows).
const char* auth_outcome_label(const AuthResult& result, std::string_view daemon, std::string_view what,
                               std::string_view peer, std::string_view user);

}  // namespace aviary::service
