// message_stream.cpp - see message_stream.hpp (RFC 1939 §3, §7 TOP).
#include "common/message_stream.hpp"

namespace aviary {

bool MessageStream::next(std::string_view prefix, std::string_view body, std::string& out, std::size_t budget) {
  if (finished_) return false;
  const std::uint64_t total = prefix.size() + body.size();
  const std::size_t start = out.size();
  while (offset_ < total && out.size() - start < budget && !cut_) {
    char c = offset_ < prefix.size() ? prefix[offset_] : body[offset_ - prefix.size()];
    ++offset_;
    if (line_start_ && c == '.') out += '.';  // byte-stuffing
    out += c;
    line_start_ = c == '\n';
    if (c != '\n') {
      if (c != '\r') ++line_length_;
      continue;
    }
    // End of a line: headers end at the first empty one; TOP counts after it.
    if (!in_body_) {
      if (line_length_ == 0) {
        in_body_ = true;
        if (top_lines_ && *top_lines_ == 0) cut_ = true;
      }
    } else if (top_lines_ && ++body_lines_ >= *top_lines_) {
      cut_ = true;
    }
    line_length_ = 0;
  }
  if (offset_ < total && !cut_) return true;
  // Done: the last line gets its CRLF if the message lacked one, then ".".
  if (!line_start_) out += "\r\n";
  out += ".\r\n";
  finished_ = true;
  return true;
}

}  // namespace aviary
