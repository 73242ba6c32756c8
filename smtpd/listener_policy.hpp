// listener_policy.hpp - what each kind of SMTP listener offers and requires.
//
// One session and one command table serve port 25 (MX), 587 (submission)
// and 465 (submissions); the differences between them are these values,
// read by the handlers and the session, and nowhere else.
#pragma once

#include <string_view>

namespace aviary::smtpd {

struct ListenerPolicy {
  std::string_view name;  // metrics label: smtp, submission, submissions
  // RFC 8314 §3.3: TLS from the first byte, before the greeting.
  bool implicit_tls = false;
  // AUTH PLAIN LOGIN is offered and accepted, inside TLS only (RFC 4954 §4,
  // RFC 8314): passwords never on port 25, never in the clear.
  bool offers_auth = false;
  // RFC 6409 §4.3, RFC 4954 §6: MAIL only after STARTTLS, then AUTH.
  bool requires_auth = false;
  // The sender must be the user's own address (an alias to the user, a
  // +tag); the null sender is refused.
  bool checks_sender = false;
  // MAIL ... AUTH=<mailbox> (RFC 4954 §5) is accepted (and ignored: we know
  // who authenticated).
  bool accepts_auth_parameter = false;
  // Recipients outside the hosted domains go to the queue; on port 25 they
  // are refused (no open relay).
  bool relays = false;
  // RFC 6409 §8.2-8.3: Date and Message-ID added when the client left them out.
  bool completes_origin_fields = false;
};

inline constexpr ListenerPolicy mx_listener{.name = "smtp"};

inline constexpr ListenerPolicy submission_listener{
    .name = "submission",
    .offers_auth = true,
    .requires_auth = true,
    .checks_sender = true,
    .accepts_auth_parameter = true,
    .relays = true,
    .completes_origin_fields = true,
};

// Port 465: submission inside TLS from the start.
constexpr ListenerPolicy with_implicit_tls(ListenerPolicy policy, std::string_view name) {
  policy.name = name;
  policy.implicit_tls = true;
  return policy;
}
inline constexpr ListenerPolicy submissions_listener = with_implicit_tls(submission_listener, "submissions");

}  // namespace aviary::smtpd
