// units.hpp - sizes (B/KiB/MiB/GiB) and durations (s/m/h/d) as config and
// aviaryctl write them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aviary {

// "35MiB", "512B", "16GiB", "1024" (bytes). Nothing on overflow or bad input.
std::optional<std::uint64_t> parse_size(std::string_view text);
// "30s", "5m", "1h", "5d". Nothing on overflow or bad input.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// The largest unit that divides the value exactly: 36700160 -> "35MiB".
std::string format_size(std::uint64_t bytes);
std::string format_duration(std::chrono::seconds duration);

}  // namespace aviary
