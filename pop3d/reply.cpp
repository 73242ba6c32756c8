// reply.cpp - see reply.hpp.
#include "pop3d/reply.hpp"

namespace aviary::pop3d {

void append_stuffed_line(std::string& out, std::string_view line) {
  if (!line.empty() && line.front() == '.') out += '.';
  out += line;
  out += "\r\n";
}

std::string format(const Reply& reply) {
  std::string out = reply.ok ? "+OK" : "-ERR";
  if (!reply.code.empty()) out += " [" + reply.code + "]";
  if (!reply.text.empty()) out += " " + reply.text;
  out += "\r\n";
  if (reply.multiline) {
    for (const auto& line : reply.lines) append_stuffed_line(out, line);
    out += ".\r\n";
  }
  return out;
}

}  // namespace aviary::pop3d
