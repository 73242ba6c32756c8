// dsn.cpp - see dsn.hpp (RFC 3464, RFC 3462 multipart/report, RFC 6533 for
// internationalized addresses).
#include "relay/dsn.hpp"

#include <algorithm>

#include "common/address.hpp"
#include "common/header.hpp"
#include "relay/host_name.hpp"

namespace aviary::relay {
namespace {

constexpr std::size_t max_returned_headers = 64 * 1024;

// Folds a long field value at spaces so no line exceeds ~78 octets.
std::string folded(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  std::size_t line = out.size();
  std::size_t i = 0;
  while (i < value.size()) {
    std::size_t space = value.find(' ', i);
    std::string_view word = value.substr(i, space == std::string_view::npos ? std::string_view::npos : space - i);
    if (line + word.size() > 76 && line > name.size() + 2) {
      out += "\r\n    ";
      line = 4;
    } else if (i > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
    if (space == std::string_view::npos) break;
    i = space + 1;
  }
  return out + "\r\n";
}

// The length of the UTF-8 sequence at s[i], or 0 if none starts there (RFC
// 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto tail = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i + k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  unsigned char c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return tail(1) ? 2 : 0;
  if (c == 0xE0) return tail(1, 0xA0) && tail(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return tail(1) && tail(2) ? 3 : 0;
  if (c == 0xED) return tail(1, 0x80, 0x9F) && tail(2) ? 3 : 0;
  if (c == 0xF0) return tail(1, 0x90) && tail(2) && tail(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return tail(1) && tail(2) && tail(3) ? 4 : 0;
  if (c == 0xF4) return tail(1, 0x80, 0x8F) && tail(2) && tail(3) ? 4 : 0;
  return 0;
}

}  // namespace

std::string clean_remote_text(std::string_view s, bool utf8, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 1;
    std::string_view piece;
    if (c == '\r' || c == '\n' || c == '\t') {
      piece = " ";  // a line break would end the field: no injected lines
    } else if (c >= 0x20 && c < 0x7F) {
      piece = s.substr(i, 1);
    } else if (c >= 0x80 && utf8 && (n = utf8_sequence(s, i)) > 0) {
      piece = s.substr(i, n);
    } else {
      n = 1;
      piece = "?";  // controls, DEL, 8-bit octets the part's charset cannot carry
    }
    if (out.size() + piece.size() > max) break;
    out += piece;
    i += n;
  }
  return out;
}

std::string remote_mta_name(std::string_view peer) {
  std::string_view name = peer.substr(0, peer.find('['));
  if (name.ends_with('.')) name.remove_suffix(1);
  return is_host_name(name) ? std::string(name) : std::string();
}

std::string build_dsn(const BounceFacts& f, std::string_view original) {
  std::string_view headers = header::section(original, max_returned_headers);
  bool utf8 = !is_ascii(headers) || !is_ascii(f.sender) ||
              std::any_of(f.recipients.begin(), f.recipients.end(), [](const FailedRecipient& r) { return !is_ascii(r.address); });
  const std::string boundary = f.bounce_id + "/" + f.hostname;
  const std::string date = header::rfc5322_date(f.now);

  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + f.hostname + ">\r\n";
  m += "To: <" + f.sender + ">\r\n";
  m += "Subject: Undelivered Mail Returned to Sender\r\n";
  m += "Date: " + date + "\r\n";
  m += "Message-ID: <" + f.bounce_id + "@" + f.hostname + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no replies to this
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Notification\r\n";
  m += std::string("Content-Type: text/plain; charset=") + (utf8 ? "utf-8" : "us-ascii") + "\r\n\r\n";
  m += "This is the mail system at host " + f.hostname + ".\r\n\r\n";
  m += "I'm sorry to have to inform you that your message could not\r\n";
  m += "be delivered to one or more recipients. The details are below.\r\n\r\n";
  for (const auto& r : f.recipients) {
    // Everything the remote side chose (its name from DNS, its reply) is
    // cleaned: a CR LF in it must not start a line of our own. The line
    // stays within RFC 5322's 998 octets.
    std::string line = "<" + r.address + ">: ";
    if (!r.remote_mta.empty()) line += "host " + clean_remote_text(r.remote_mta, false, 300) + " said: ";
    line += clean_remote_text(r.diagnostic, utf8, line.size() < 990 ? 990 - line.size() : 0);
    m += line + "\r\n\r\n";
  }

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\n";
  m += std::string("Content-Type: message/") + (utf8 ? "global-delivery-status" : "delivery-status") + "\r\n\r\n";
  m += "Reporting-MTA: dns; " + f.hostname + "\r\n";
  m += "X-Aviary-Queue-ID: " + f.queue_id + "\r\n";
  m += "Arrival-Date: " + header::rfc5322_date(f.arrival) + "\r\n";
  const std::string address_type = utf8 ? "utf-8; " : "rfc822; ";
  for (const auto& r : f.recipients) {
    m += "\r\n";
    m += "Final-Recipient: " + address_type + r.address + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + (r.status.empty() ? std::string("5.0.0") : r.status) + "\r\n";
    // RFC 3464 §2.3.5: "dns;" takes a DNS name, so a peer known only by
    // its address gets no Remote-MTA field (the text part still names it).
    if (std::string mta = remote_mta_name(r.remote_mta); !mta.empty()) m += "Remote-MTA: dns; " + mta + "\r\n";
    m += folded("Diagnostic-Code", std::string(r.remote_reply ? "smtp; " : "X-Aviary; ") + clean_remote_text(r.diagnostic, utf8));
    m += "Last-Attempt-Date: " + date + "\r\n";
  }
  m += "\r\n";

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Undelivered Message Headers\r\n";
  m += std::string("Content-Type: ") + (utf8 ? "message/global-headers" : "text/rfc822-headers") + "\r\n\r\n";
  m += headers;
  if (!headers.ends_with("\r\n")) m += "\r\n";
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

}  // namespace aviary::relay
