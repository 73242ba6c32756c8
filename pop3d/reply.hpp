// reply.hpp - POP3 replies as values (RFC 1939 §3, RFC 2449 §8 response codes).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace aviary::pop3d {

// What the session must do besides sending the reply; handlers stay free
// of I/O and tell the session instead.
enum class Next {
  none,
  authenticate,   // verify user/secret (Argon2 off the I/O thread), then log in
  sasl_continue,  // AUTH PLAIN without initial response: send "+ ", read the response
  start_tls,      // STLS: +OK sent, then the handshake
  send_message,   // RETR/TOP: +OK, then the message streamed from the store
  update,         // QUIT in TRANSACTION: apply deletions, then +OK and close
  close,          // QUIT in AUTHORIZATION, or too many errors
};

struct Reply {
  bool ok = true;
  std::string code;                // RFC 2449 response code without brackets: AUTH, IN-USE, SYS/TEMP
  std::string text;
  std::vector<std::string> lines;  // a multi-line body (dot-stuffed when formatted)
  bool multiline = false;
  Next next = Next::none;
  // An unknown command (in this state) or a syntax error: counts toward
  // pop3d.max_errors. A well-formed command refused (no such message, a
  // wrong password, TLS required) does not.
  bool bad_command = false;

  // Payload for the actions above.
  std::string user;
  std::string secret;
  std::size_t message = 0;                // 1-based message number for send_message
  std::optional<std::size_t> top_lines;   // TOP: body lines to send

  static Reply success(std::string text) {
    Reply r;
    r.text = std::move(text);
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
