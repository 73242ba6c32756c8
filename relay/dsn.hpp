// dsn.hpp - the bounce: a RFC 3464 delivery status notification to the
// sender of a message some recipients of which could not be reached.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::relay {

struct FailedRecipient {
  std::string address;
  std::string status;      // RFC 3463, e.g. "5.1.1"
  std::string diagnostic;  // the remote reply ("550 5.1.1 ...") or our own reason
  bool remote_reply = false;  // the diagnostic is what the remote server said
  std::string remote_mta;  // the host that said it, if any: "mx.b.test[192.0.2.1]"
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

// A string the remote side chose (reply text, a name from DNS), fit for one
// line of a bounce: CR, LF and TAB become spaces, other controls and 8-bit
// octets "?" (valid UTF-8 stays when `utf8`: message/global-delivery-status,
// RFC 6533), cut at `max` octets on a character boundary.
std::string clean_remote_text(std::string_view text, bool utf8, std::size_t max = 900);

// The DNS name in a peer ("mx.b.test[192.0.2.1]" -> "mx.b.test") for
// Remote-MTA, or "" when it has none (an address, a malformed name).
std::string remote_mta_name(std::string_view peer);

}  // namespace aviary::relay
