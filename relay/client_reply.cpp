// client_reply.cpp - see client_reply.hpp.
#include "relay/client_reply.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace aviary::relay {

std::string ServerReply::text() const {
  if (code == 0) return "lost connection or malformed reply";
  std::string out = std::to_string(code);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    out += lines[i];
  }
  return out;
}

std::string ServerReply::enhanced() const {
  if (lines.empty()) return "";
  std::string_view t = lines.front();
  auto end = t.find(' ');
  std::string_view word = t.substr(0, end);
  // class.subject.detail: one digit, then 1-3 and 1-3 digits.
  if (word.size() < 5 || word.size() > 9 || word[1] != '.') return "";
  if (word[0] != '2' && word[0] != '4' && word[0] != '5') return "";
  int dots = 0;
  for (char c : word.substr(1)) {
    if (c == '.') ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c))) return "";
  }
  if (dots != 2 || word.back() == '.' || word.find("..") != std::string_view::npos) return "";
  return std::string(word);
}

bool ReplyAssembler::add(std::string_view line) {
  int code = 0;
  bool ok = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) &&
            (line.size() == 3 || line[3] == ' ' || line[3] == '-');
  if (ok) {
    std::from_chars(line.data(), line.data() + 3, code);
    ok = code >= 200 && code < 600 && (reply_.code == 0 || reply_.code == code);
  }
  if (!ok) {
    reply_.code = 0;
    return true;
  }
  reply_.code = code;
  reply_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
  return line.size() == 3 || line[3] == ' ';
}

ServerReply ReplyAssembler::take() {
  ServerReply out = std::move(reply_);
  reply_ = {};
  return out;
}

Extensions parse_extensions(const ServerReply& ehlo) {
  Extensions ext;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string line = ehlo.lines[i];
    std::transform(line.begin(), line.end(), line.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::string_view keyword = std::string_view(line).substr(0, line.find(' '));
    if (keyword == "PIPELINING") ext.pipelining = true;
    else if (keyword == "STARTTLS") ext.starttls = true;
    else if (keyword == "8BITMIME") ext.eightbitmime = true;
    else if (keyword == "SMTPUTF8") ext.smtputf8 = true;
    else if (keyword == "SIZE") {
      ext.size = true;
      if (line.size() > 5) {
        std::string_view value = std::string_view(line).substr(5);
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc() && p == value.data() + value.size()) ext.max_size = n;
      }
    }
  }
  return ext;
}

}  // namespace aviary::relay
