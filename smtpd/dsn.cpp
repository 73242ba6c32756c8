// dsn.cpp - see dsn.hpp (RFC 3464, RFC 3462 multipart/report, RFC 6533 for
// internationalized addresses).
#include "smtpd/dsn.hpp"

#include <algorithm>

#include "common/address.hpp"
#include "smtpd/delivery.hpp"

namespace aviary::smtpd {
namespace {

constexpr std::size_t max_returned_headers = 64 * 1024;

// Keeps a DSN field within the 998-octet line limit and free of CR/LF that
// a remote server could have put into its reply.
std::string field_text(std::string_view s, std::size_t max = 900) {
  std::string out;
  for (char c : s) {
    if (c == '\r' || c == '\n') c = ' ';
    out += c;
    if (out.size() >= max) break;
  }
  return out;
}

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

}  // namespace

std::string_view header_section(std::string_view message, std::size_t limit) {
  std::size_t end = message.find("\r\n\r\n");
  end = end == std::string_view::npos ? message.size() : end + 4;
  if (end > limit) {
    std::size_t cut = message.rfind("\r\n", limit);
    end = cut == std::string_view::npos ? 0 : cut + 2;
  }
  return message.substr(0, end);
}

std::string build_dsn(const BounceFacts& f, std::string_view original) {
  std::string_view headers = header_section(original, max_returned_headers);
  bool utf8 = !is_ascii(headers) || !is_ascii(f.sender) ||
              std::any_of(f.recipients.begin(), f.recipients.end(), [](const FailedRecipient& r) { return !is_ascii(r.address); });
  const std::string boundary = f.bounce_id + "/" + f.hostname;
  const std::string date = rfc5322_date(f.now);

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
    m += "<" + r.address + ">: ";
    if (!r.remote_mta.empty()) m += "host " + r.remote_mta + " said: ";
    m += field_text(r.diagnostic) + "\r\n\r\n";
  }

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\n";
  m += std::string("Content-Type: message/") + (utf8 ? "global-delivery-status" : "delivery-status") + "\r\n\r\n";
  m += "Reporting-MTA: dns; " + f.hostname + "\r\n";
  m += "X-Aviary-Queue-ID: " + f.queue_id + "\r\n";
  m += "Arrival-Date: " + rfc5322_date(f.arrival) + "\r\n";
  const std::string address_type = utf8 ? "utf-8; " : "rfc822; ";
  for (const auto& r : f.recipients) {
    m += "\r\n";
    m += "Final-Recipient: " + address_type + r.address + "\r\n";
    m += "Action: failed\r\n";
    m += "Status: " + (r.status.empty() ? std::string("5.0.0") : r.status) + "\r\n";
    if (!r.remote_mta.empty()) m += "Remote-MTA: dns; " + field_text(r.remote_mta, 255) + "\r\n";
    m += folded("Diagnostic-Code", std::string(r.remote_reply ? "smtp; " : "X-Aviary; ") + field_text(r.diagnostic));
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

}  // namespace aviary::smtpd
