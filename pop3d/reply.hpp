// reply.hpp - POP3 replies as values (RFC 1939 §3, RFC 2449 §8 response codes).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aviary::pop3d {

// What the session must do besides sending the reply; handlers stay free
// of I/O and tell the session instead, with what it needs to do it.
namespace next {
// Verify the user's secret (Argon2 off the I/O thread), then log in; the
// reply is not sent, the session answers with the outcome.
struct Authenticate {
  std::string user;
  std::string secret;
};
// AUTH PLAIN without initial response: send "+ ", read the response.
struct SaslContinue {};
// STLS: +OK sent, then the handshake.
struct StartTls {};
// RETR/TOP: +OK, then the message streamed from the store.
struct SendMessage {
  std::size_t message = 0;               // 1-based message number
  std::optional<std::size_t> top_lines;  // TOP: body lines to send
};
// QUIT in TRANSACTION: apply deletions, then +OK and close.
struct Update {};
// QUIT in AUTHORIZATION: the reply, then close.
struct Close {};
}  // namespace next

// std::monostate: nothing but the reply.
using Next = std::variant<std::monostate, next::Authenticate, next::SaslContinue, next::StartTls, next::SendMessage,
                          next::Update, next::Close>;

struct Reply {
  bool ok = true;
  std::string code;                // RFC 2449 response code without brackets: AUTH, IN-USE, SYS/TEMP
  std::string text;
  std::vector<std::string> lines;  // a multi-line body (dot-stuffed when formatted)
  bool multiline = false;
  Next next;
  // An unknown command (in this state) or a syntax error: counts toward
  // pop3d.max_errors. A well-formed command refused (no such message, a
  // wrong password, TLS required) does not.
  bool bad_command = false;

  template <class Action>
  bool is() const {
    return std::holds_alternative<Action>(next);
  }

  static Reply success(std::string text, Next next = {}) {
    Reply r;
    r.text = std::move(text);
    r.next = std::move(next);
    return r;
  }
  static Reply failure(std::string text, std::string code = {}) {
    Reply r;
    r.ok = false;
    r.code = std::move(code);
    r.text = std::move(text);
    return r;
  }
  static Reply bad(std::string text) {
    Reply r = failure(std::move(text));
    r.bad_command = true;
    return r;
  }
};

std::string format(const Reply& reply);

// RFC 1939 §3: a line of a multi-line response starting with "." gets one more.
void append_stuffed_line(std::string& out, std::string_view line);

}  // namespace aviary::pop3d
