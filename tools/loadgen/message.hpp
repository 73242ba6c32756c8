// message.hpp - the RFC 5322 messages the load generator sends, ready for the wire.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::loadgen {

struct MessageSpec {
  std::uint64_t index = 0;           // makes Message-ID and the body unique
  std::string_view from;
  std::vector<std::string_view> to;  // the To: header lists these
  std::uint64_t size = 4096;         // target size before dot-stuffing
  std::string_view host;             // right-hand side of Message-ID
};

// build_message - headers (From, To, Subject, Date, Message-ID, MIME-Version)
// and a text body of CRLF lines of at most 78 characters, close to
// spec.size octets in all (never under it unless the headers alone are over).
std::string build_message(const MessageSpec& spec);

// dot_stuff - the DATA payload for `message` (which ends in CRLF): lines
// starting with "." get another (RFC 5321 §4.5.2) and ".\r\n" closes it.
std::string dot_stuff(std::string_view message);

}  // namespace aviary::loadgen
