// units.cpp - sizes and durations as text: "35MiB", "5d" (see units.hpp).
#include "common/units.hpp"

#include <array>
#include <limits>

namespace aviary {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Largest first, so that formatting picks the largest unit that divides.
// Binary units only: "MB" is left out on purpose, because half of all admins
// read it as 10^6 and the other half as 2^20.
constexpr std::array<Unit, 5> size_units{{
    {"TiB", 1ull << 40},
    {"GiB", 1ull << 30},
    {"MiB", 1ull << 20},
    {"KiB", 1ull << 10},
    {"B", 1},
}};

constexpr std::array<Unit, 4> duration_units{{
    {"d", 86400},
    {"h", 3600},
    {"m", 60},
    {"s", 1},
}};

// trim - drop surrounding blanks; a value written as " 5m " is still clear.
std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

struct Quantity {
  std::uint64_t number;
  std::string_view suffix;
};

// split_number - leading decimal digits and whatever follows them. No sign is
// accepted, so "-5m" and "+5m" fail here rather than wrapping around.
std::optional<Quantity> split_number(std::string_view text) {
  text = trim(text);
  std::uint64_t number = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    unsigned digit = static_cast<unsigned>(text[i] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    number = number * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  return Quantity{number, text.substr(i)};
}

template <std::size_t N>
std::optional<std::uint64_t> scale(const Quantity& q, const std::array<Unit, N>& units) {
  for (const Unit& unit : units) {
    if (q.suffix != unit.suffix) continue;
    if (q.number > std::numeric_limits<std::uint64_t>::max() / unit.factor) return std::nullopt;
    return q.number * unit.factor;
  }
  return std::nullopt;
}

template <std::size_t N>
std::string format_with(std::uint64_t value, const std::array<Unit, N>& units) {
  for (const Unit& unit : units) {
    // Zero is divisible by everything; it reads best in the smallest unit.
    if (value != 0 && value % unit.factor == 0) {
      return std::to_string(value / unit.factor) + std::string(unit.suffix);
    }
  }
  return "0" + std::string(units.back().suffix);
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto q = split_number(text);
  if (!q) return std::nullopt;
  if (q->suffix.empty()) return q->number;  // a bare number is bytes
  return scale(*q, size_units);
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  auto q = split_number(text);
  // A bare number is refused: "5" could mean seconds or minutes, and a retry
  // schedule off by a factor of 60 is not noticed until mail is late.
  if (!q || q->suffix.empty()) return std::nullopt;
  auto seconds = scale(*q, duration_units);
  using Rep = std::chrono::seconds::rep;
  if (!seconds || *seconds > static_cast<std::uint64_t>(std::numeric_limits<Rep>::max())) {
    return std::nullopt;
  }
  return std::chrono::seconds(static_cast<Rep>(*seconds));
}

std::string format_size(std::uint64_t bytes) { return format_with(bytes, size_units); }

std::string format_duration(std::chrono::seconds duration) {
  auto count = duration.count();
  if (count >= 0) return format_with(static_cast<std::uint64_t>(count), duration_units);
  // Negative durations never come from parse_duration, but a computed
  // difference may be logged; unsigned negation keeps INT64_MIN exact.
  return "-" + format_with(0 - static_cast<std::uint64_t>(count), duration_units);
}

}  // namespace aviary
