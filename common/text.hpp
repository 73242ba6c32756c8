// text.hpp - small ASCII text helpers the protocol parsers share.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace aviary {

// ASCII letters only: protocol keywords are ASCII, and a UTF-8 octet must
// never be changed (std::toupper would, in some locales).
inline std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

inline std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// What a decimal number too big for 64 bits is.
enum class Overflow {
  saturate,  // still a number, larger than any limit (RFC 1870 SIZE, POP3 message numbers)
  refuse,    // not a number (a BDAT chunk size: its octets cannot be read)
};

// 1*DIGIT, at most `max_digits` of them; nullopt for anything else (empty,
// a sign, a space, another character).
inline std::optional<std::uint64_t> parse_decimal(std::string_view text, Overflow overflow,
                                                  std::size_t max_digits = std::numeric_limits<std::size_t>::max()) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) {
      if (overflow == Overflow::refuse) return std::nullopt;
      value = max;
    } else {
      value = value * 10 + digit;
    }
  }
  return value;
}

}  // namespace aviary
