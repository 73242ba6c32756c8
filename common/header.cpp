// header.cpp - see header.hpp.
#include "common/header.hpp"

#include <time.h>

#include <cstdio>
#include <random>

namespace aviary::header {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Calls `visit(line)` for each line of the header section (without its
// line end) until it returns false or the section ends.
template <typename Visit>
void each_line(std::string_view headers, Visit visit) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find('\n', pos);
    std::string_view line = headers.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.empty() || line == "\r") return;  // end of the header section
    if (!visit(line)) return;
    if (end == std::string_view::npos) return;
    pos = end + 1;
  }
}

}  // namespace

std::string_view section(std::string_view message, std::size_t limit) {
  std::size_t end = message.find("\r\n\r\n");
  end = end == std::string_view::npos ? message.size() : end + 4;
  if (end > limit) {
    std::size_t cut = message.rfind("\r\n", limit);
    end = cut == std::string_view::npos ? 0 : cut + 2;
  }
  return message.substr(0, end);
}

bool has_field(std::string_view headers, std::string_view name) {
  bool found = false;
  each_line(headers, [&](std::string_view line) {
    found = line.size() > name.size() && line[name.size()] == ':' && same_name(line.substr(0, name.size()), name);
    return !found;
  });
  return found;
}

std::size_t received_count(std::string_view message) {
  static constexpr std::string_view name = "received:";
  std::size_t count = 0;
  each_line(message, [&](std::string_view line) {
    if (line.size() >= name.size() && same_name(line.substr(0, name.size()), name)) ++count;
    return true;
  });
  return count;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return out;
}

std::string new_message_id() {
  // Seconds, then 64 random bits.
  thread_local std::mt19937_64 random{std::random_device{}() ^ static_cast<std::uint64_t>(::time(nullptr))};
  static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
  std::uint64_t when = static_cast<std::uint64_t>(::time(nullptr));
  std::uint64_t bits = random();
  std::string id;
  for (int shift = 35; shift >= 0; shift -= 5) id += digits[(when >> shift) & 31];
  for (int i = 0; i < 13; ++i, bits >>= 5) id += digits[bits & 31];
  return id;
}

std::string missing_origin_fields(std::string_view message_start, const std::string& id, const std::string& hostname,
                                  std::int64_t when) {
  std::string out;
  if (!has_field(message_start, "Message-ID")) out += "Message-ID: <" + id + "@" + hostname + ">\r\n";
  if (!has_field(message_start, "Date")) out += "Date: " + rfc5322_date(when) + "\r\n";
  return out;
}

}  // namespace aviary::header
