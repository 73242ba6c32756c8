// reply.cpp - formatting of SMTP replies (RFC 5321 §4.2, RFC 2034).
#include "smtpd/reply.hpp"

namespace aviary::smtpd {

Reply verify(next::Authenticate credentials) {
  Reply r;
  r.next = std::move(credentials);
  return r;
}

std::string format(const Reply& reply) {
  std::string out;
  std::string code = std::to_string(reply.code);
  for (std::size_t i = 0; i < reply.lines.size(); ++i) {
    out += code;
    out += i + 1 < reply.lines.size() ? '-' : ' ';
    if (!reply.enhanced.empty()) {
      out += reply.enhanced;
      out += ' ';
    }
    out += reply.lines[i];
    out += "\r\n";
  }
  if (reply.lines.empty()) out = code + " " + reply.enhanced + "\r\n";
  return out;
}

}  // namespace aviary::smtpd
