// message.cpp - builds plausible mail of a given size: headers, then filler text.
#include "tools/loadgen/message.hpp"

#include <unistd.h>

#include <array>
#include <ctime>

namespace aviary::loadgen {

namespace {

constexpr std::size_t max_line = 78;  // RFC 5322 §2.1.1 SHOULD, without the CRLF

constexpr std::array<std::string_view, 24> words = {
    "mail",   "queue",  "relay",   "domain", "mailbox", "commit", "latency", "header",
    "body",   "server", "client",  "ready",  "accept",  "durable", "fsync", "sender",
    "the",    "of",     "and",     "a",      "to",      "in",      "is",    "for"};

// A small deterministic generator so that bodies differ but runs repeat.
struct Lcg {
  std::uint64_t state;
  std::uint32_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(state >> 33);
  }
};

// rfc5322_date - "Tue, 02 Jan 2024 15:04:05 +0000" (RFC 5322 §3.3).
std::string rfc5322_date() {
  static constexpr std::array<const char*, 7> days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// append_text_line - one filler line of exactly `length` characters plus CRLF.
// Every 16th line starts with a dot so that dot-stuffing is exercised.
void append_text_line(std::string& out, std::size_t length, Lcg& rng, std::uint64_t line_no) {
  std::size_t start = out.size();
  if (line_no % 16 == 15 && length > 0) out += '.';
  while (out.size() - start < length) {
    std::string_view w = words[rng.next() % words.size()];
    std::size_t room = length - (out.size() - start);
    if (out.size() != start && out.back() != '.' && room > 1) {
      out += ' ';
      --room;
    }
    out.append(w.substr(0, room));
  }
  out += "\r\n";
}

}  // namespace

std::string build_message(const MessageSpec& spec) {
  std::string m;
  m.reserve(spec.size + 512);
  m += "From: <";
  m += spec.from;
  m += ">\r\nTo: ";
  // RFC 5322 §2.2.3: fold the To: list so no line passes 78 characters.
  std::size_t line_start = m.size() - 4;
  for (std::size_t i = 0; i < spec.to.size(); ++i) {
    std::size_t item = spec.to[i].size() + 3;
    if (i > 0 && m.size() - line_start + item > max_line) {
      m += "\r\n";
      line_start = m.size();
      m += ' ';
    } else if (i > 0) {
      m += ' ';
    }
    m += '<';
    m += spec.to[i];
    m += '>';
    if (i + 1 < spec.to.size()) m += ',';
  }
  m += "\r\nSubject: aviary-loadgen message ";
  m += std::to_string(spec.index);
  m += "\r\nDate: ";
  m += rfc5322_date();
  m += "\r\nMessage-ID: <";
  m += std::to_string(static_cast<long>(::getpid()));
  m += '.';
  m += std::to_string(spec.index);
  m += ".loadgen@";
  m += spec.host;
  m += ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";

  // The body: full lines, then one shorter line that lands on spec.size.
  // A line costs at least 3 octets (one character and CRLF).
  Lcg rng{spec.index + 1};
  std::uint64_t line_no = 0;
  constexpr std::size_t full = max_line + 2;
  // Bounded: each pass adds at least 3 octets towards spec.size.
  while (m.size() < spec.size) {
    std::size_t left = spec.size - m.size();
    std::size_t length;
    if (left >= full + 3 || left == full) {
      length = max_line;
    } else if (left > full) {
      length = max_line - 3;  // leaves room for a last line of >= 1 character
    } else {
      length = left >= 3 ? left - 2 : 1;
    }
    append_text_line(m, length, rng, line_no++);
  }
  if (line_no == 0) append_text_line(m, 1, rng, line_no);  // a body is never empty
  return m;
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

}  // namespace aviary::loadgen
