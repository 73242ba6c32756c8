// message_stream.cpp - see message_stream.hpp (RFC 1939 §3, §7 TOP).
#include "common/message_stream.hpp"

#include <algorithm>

namespace aviary {

void MessageStream::feed(std::string_view octets, std::string& out) {
  for (char c : octets) {
    if (cut_ || finished_) return;
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
}

bool MessageStream::end(std::uint64_t total, std::string& out) {
  if (finished_) return true;
  if (offset_ < total && !cut_) return false;
  // Done: the last line gets its CRLF if the message lacked one, then ".".
  if (!line_start_) out += "\r\n";
  out += ".\r\n";
  finished_ = true;
  return true;
}

bool MessageStream::next(std::string_view prefix, std::string_view body, std::string& out, std::size_t budget) {
  if (finished_) return false;
  const std::uint64_t total = prefix.size() + body.size();
  const std::uint64_t stop = std::min<std::uint64_t>(total, offset_ + budget);
  if (offset_ < prefix.size()) feed(prefix.substr(offset_, std::min<std::uint64_t>(stop, prefix.size()) - offset_), out);
  if (stop > prefix.size() && offset_ >= prefix.size() && offset_ < stop) {
    feed(body.substr(offset_ - prefix.size(), stop - offset_), out);
  }
  end(total, out);
  return true;
}

}  // namespace aviary
