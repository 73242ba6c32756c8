// dsn.hpp - the bounce: a RFC 3464 delivery status notification to the
// sender of a message some recipients of which could not be reached.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::smtpd {

struct FailedRecipient {
  std::string address;
  std::string status;      // RFC 3463, e.g. "5.1.1"
  std::string diagnostic;  // the remote reply ("550 5.1.1 ...") or our own reason
  bool remote_reply = false;  // the diagnostic is what the remote server said
  std::string remote_mta;  // the host that said it, if any
};

struct BounceFacts {
  std::string hostname;   // ours: Reporting-MTA and MAILER-DAEMON@
  std::string sender;     // the original envelope sender: the bounce goes there
  std::string queue_id;   // the original message's id
  std::string bounce_id;  // a fresh id for the bounce's Message-ID
  std::int64_t arrival = 0;
  std::int64_t now = 0;
  std::vector<FailedRecipient> recipients;
};

// The whole bounce message (CRLF lines): a multipart/report with a human
// part, the machine-readable delivery-status part, and the original header
// section (`original` is the queued message; only its headers are kept).
std::string build_dsn(const BounceFacts& facts, std::string_view original);

// The header section of a message: up to and including the empty line, at
// most `limit` octets (cut at a line end).
std::string_view header_section(std::string_view message, std::size_t limit);

}  // namespace aviary::smtpd
