// reply.hpp - SMTP replies as values: handlers return them, the session sends them.
#pragma once

#include <string>
#include <vector>

namespace aviary::smtpd {

// What the session must do after sending a reply: the handlers stay free of
// I/O and tell the session instead.
enum class Next {
  none,
  read_data,   // 354 sent: read the DATA body
  read_chunk,  // BDAT: read the announced octets (no reply before that)
  start_tls,   // 220 sent: TLS handshake
  sasl_continue,  // 334 sent: read the client's next AUTH line
  authenticate,   // credentials complete (in SessionState::sasl): verify them
  close,       // 221 or 421 sent: end the session
};

struct Reply {
  int code = 250;
  std::string enhanced;            // RFC 3463 status, "2.1.0"; empty for greetings and 354
  std::vector<std::string> lines;  // one or more; multiline replies repeat the code
  Next next = Next::none;
  // False for a 4xx/5xx that is no fault of the client (a 452 for a
  // recipient past the limit, RFC 5321 §4.5.3.1.10).
  bool counts_as_error = true;

  Reply() = default;
  Reply(int c, std::string e, std::string text, Next n = Next::none)
      : code(c), enhanced(std::move(e)), lines{std::move(text)}, next(n) {}

  // Counts towards smtpd.max_errors: the client did something wrong.
  bool is_error() const { return code >= 400 && code != 421 && counts_as_error; }
};

// "250-first\r\n250 2.0.0 last\r\n"; the enhanced code is on every line (RFC 2034 §4).
std::string format(const Reply& reply);

}  // namespace aviary::smtpd
