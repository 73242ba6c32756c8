// reply.hpp - SMTP replies as values: handlers return them, the session sends them.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace aviary::smtpd {

// What the session must do with a reply: the handlers stay free of I/O and
// tell the session instead, with what it needs to do it.
namespace next {
// 354 sent: read the DATA body.
struct ReadData {};
// BDAT: read the announced octets; the reply goes out after them.
struct ReadChunk {
  std::uint64_t size = 0;
  bool last = false;
};
// 220 sent: the TLS handshake.
struct StartTls {};
// 334 sent: read the client's next AUTH line.
struct SaslContinue {};
// The credentials are complete: the reply is not sent, the session verifies
// them and answers (235, 454 or 535).
struct Authenticate {
  std::string mechanism;  // PLAIN or LOGIN
  std::string user;
  std::string password;
};
// 221 or 421 sent: end the session.
struct Close {};
}  // namespace next

// std::monostate: nothing but the reply.
using Next = std::variant<std::monostate, next::ReadData, next::ReadChunk, next::StartTls, next::SaslContinue,
                          next::Authenticate, next::Close>;

struct Reply {
  int code = 250;
  std::string enhanced;            // RFC 3463 status, "2.1.0"; empty for greetings and 354
  std::vector<std::string> lines;  // one or more; multiline replies repeat the code
  Next next;
  // False for a 4xx/5xx that is no fault of the client (a 452 for a
  // recipient past the limit, RFC 5321 §4.5.3.1.10).
  bool counts_as_error = true;

  Reply() = default;
  Reply(int c, std::string e, std::string text, Next n = {})
      : code(c), enhanced(std::move(e)), lines{std::move(text)}, next(std::move(n)) {}

  // Counts towards smtpd.max_errors: the client did something wrong.
  bool is_error() const { return code >= 400 && code != 421 && counts_as_error; }

  template <class Action>
  bool is() const {
    return std::holds_alternative<Action>(next);
  }
};

// The session verifies `credentials` and answers; there is nothing to send before.
Reply verify(next::Authenticate credentials);

// "250-first\r\n250 2.0.0 last\r\n"; the enhanced code is on every line (RFC 2034 §4).
std::string format(const Reply& reply);

}  // namespace aviary::smtpd
