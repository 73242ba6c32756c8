// common_units_test.cpp - sizes and durations: what parses, what is refused, how values print.
#include "common/units.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace aviary {
namespace {

using std::chrono::seconds;
constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
constexpr std::int64_t s64_max = std::numeric_limits<std::int64_t>::max();

// Each case is named by its label, in test names and in failure messages.
template <class T>
std::string case_name(const testing::TestParamInfo<T>& info) { return info.param.label; }
template <class T>
  requires requires(const T& c) { c.label; }
void PrintTo(const T& c, std::ostream* out) { *out << c.label; }

// parse_size --------------------------------------------------------------

struct SizeCase {
  const char* label;
  const char* text;
  std::optional<std::uint64_t> expected;  // nullopt: must be refused
};

const SizeCase size_cases[] = {
    {"bare_number_is_bytes", "1024", 1024},
    {"zero", "0", 0},
    {"zero_bytes", "0B", 0},
    {"bytes", "512B", 512},
    {"kib", "1KiB", 1024},
    {"mib", "35MiB", 35ull << 20},
    {"gib", "16GiB", 16ull << 30},
    {"tib", "2TiB", 2ull << 40},
    {"leading_zeros", "007KiB", 7 * 1024},
    {"surrounding_blanks_trimmed", " \t5MiB ", 5ull << 20},
    {"largest_bare_number", "18446744073709551615", u64_max},
    {"largest_tib", "16777215TiB", 16777215ull << 40},
    {"empty", "", std::nullopt},
    {"blank", "   ", std::nullopt},
    {"unit_without_number", "MiB", std::nullopt},
    {"negative", "-1", std::nullopt},
    {"negative_with_unit", "-1KiB", std::nullopt},
    {"plus_sign", "+1KiB", std::nullopt},
    {"space_inside", "5 MiB", std::nullopt},
    {"lowercase_unit", "5mib", std::nullopt},
    {"decimal_megabytes", "5MB", std::nullopt},
    {"bare_k", "5K", std::nullopt},
    {"fraction", "1.5GiB", std::nullopt},
    {"trailing_garbage", "5MiBs", std::nullopt},
    {"hex", "0x10", std::nullopt},
    {"digits_overflow", "18446744073709551616", std::nullopt},
    {"unit_overflow", "16777216TiB", std::nullopt},
};

class ParseSize : public testing::TestWithParam<SizeCase> {};

TEST_P(ParseSize, Case) {
  const SizeCase& c = GetParam();
  EXPECT_EQ(parse_size(c.text), c.expected) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(Units, ParseSize, testing::ValuesIn(size_cases), case_name<SizeCase>);

// parse_duration ----------------------------------------------------------

struct DurationCase {
  const char* label;
  const char* text;
  std::optional<seconds> expected;
};

const DurationCase duration_cases[] = {
    {"seconds", "30s", seconds(30)},
    {"minutes", "5m", seconds(300)},
    {"hours", "1h", seconds(3600)},
    {"days", "5d", seconds(5 * 86400)},
    {"zero_is_parsed", "0s", seconds(0)},
    {"surrounding_blanks_trimmed", "  2h ", seconds(7200)},
    {"largest_days", "106751991167300d", seconds(106751991167300 * 86400)},
    {"largest_seconds", "9223372036854775807s", seconds(s64_max)},
    {"empty", "", std::nullopt},
    {"bare_number", "5", std::nullopt},
    {"bare_zero", "0", std::nullopt},
    {"negative", "-5m", std::nullopt},
    {"plus_sign", "+5m", std::nullopt},
    {"space_inside", "5 m", std::nullopt},
    {"uppercase_unit", "5M", std::nullopt},
    {"weeks", "1w", std::nullopt},
    {"milliseconds", "5ms", std::nullopt},
    {"fraction", "1.5h", std::nullopt},
    {"two_units", "1h30m", std::nullopt},
    {"unit_without_number", "s", std::nullopt},
    {"beyond_int64_seconds", "9223372036854775808s", std::nullopt},
    {"days_beyond_int64", "106751991167301d", std::nullopt},
    {"digits_overflow", "99999999999999999999s", std::nullopt},
};

class ParseDuration : public testing::TestWithParam<DurationCase> {};

TEST_P(ParseDuration, Case) {
  const DurationCase& c = GetParam();
  EXPECT_EQ(parse_duration(c.text), c.expected) << "text: \"" << c.text << "\"";
}

INSTANTIATE_TEST_SUITE_P(Units, ParseDuration, testing::ValuesIn(duration_cases), case_name<DurationCase>);

// format_size -------------------------------------------------------------

struct FormatSizeCase {
  const char* label;
  std::uint64_t bytes;
  const char* expected;
};

const FormatSizeCase format_size_cases[] = {
    {"zero", 0, "0B"},
    {"one_byte", 1, "1B"},
    {"not_a_kib_multiple", 1000, "1000B"},
    {"one_and_a_half_kib", 1536, "1536B"},
    {"kib", 1024, "1KiB"},
    {"not_a_mib_multiple", 1025 * 1024, "1025KiB"},
    {"mib", 36700160, "35MiB"},
    {"gib", 16ull << 30, "16GiB"},
    {"tib", 1ull << 40, "1TiB"},
    {"many_tib", 1024ull << 40, "1024TiB"},
    {"largest", u64_max, "18446744073709551615B"},
};

class FormatSize : public testing::TestWithParam<FormatSizeCase> {};

TEST_P(FormatSize, Case) {
  const FormatSizeCase& c = GetParam();
  EXPECT_EQ(format_size(c.bytes), c.expected);
  // What is printed must read back as the same value (aviaryctl prints
  // quotas that users paste back).
  EXPECT_EQ(parse_size(format_size(c.bytes)), c.bytes);
}

INSTANTIATE_TEST_SUITE_P(Units, FormatSize, testing::ValuesIn(format_size_cases), case_name<FormatSizeCase>);

// format_duration ---------------------------------------------------------

struct FormatDurationCase {
  const char* label;
  seconds duration;
  const char* expected;
};

const FormatDurationCase format_duration_cases[] = {
    {"zero", seconds(0), "0s"},
    {"seconds", seconds(30), "30s"},
    {"not_whole_minutes", seconds(90), "90s"},
    {"minute", seconds(60), "1m"},
    {"not_whole_hours", seconds(5400), "90m"},
    {"hour", seconds(3600), "1h"},
    {"not_whole_days", seconds(36 * 3600), "36h"},
    {"day", seconds(86400), "1d"},
    {"five_days", seconds(5 * 86400), "5d"},
    {"day_and_a_second", seconds(86401), "86401s"},
    {"largest", seconds(s64_max), "9223372036854775807s"},
};

class FormatDuration : public testing::TestWithParam<FormatDurationCase> {};

TEST_P(FormatDuration, Case) {
  const FormatDurationCase& c = GetParam();
  EXPECT_EQ(format_duration(c.duration), c.expected);
  EXPECT_EQ(parse_duration(format_duration(c.duration)), c.duration);
}

INSTANTIATE_TEST_SUITE_P(Units, FormatDuration, testing::ValuesIn(format_duration_cases),
                         case_name<FormatDurationCase>);

TEST(Units, FormatNegativeDurationKeepsTheSign) {
  EXPECT_EQ(format_duration(seconds(-60)), "-1m");
  EXPECT_EQ(format_duration(seconds(-90)), "-90s");
  EXPECT_EQ(format_duration(seconds::min()), "-9223372036854775808s");
}

}  // namespace
}  // namespace aviary
