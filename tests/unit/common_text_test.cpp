// common_text_test.cpp - the ASCII helpers of common/text.hpp: case mapping that
// leaves UTF-8 alone, and decimal numbers that saturate or refuse past 64 bits.
#include "common/text.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <ostream>

namespace aviary {
namespace {

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

TEST(Text, CaseMappingIsAsciiOnly) {
  EXPECT_EQ(to_upper("mail From:<a@b>"), "MAIL FROM:<A@B>");
  EXPECT_EQ(to_lower("[IPv6:2001:DB8::1]"), "[ipv6:2001:db8::1]");
  EXPECT_EQ(to_upper("\xC3\xA9hlo"), "\xC3\xA9HLO");
  EXPECT_EQ(to_lower("\xC3\x89X"), "\xC3\x89x");
  EXPECT_EQ(to_upper(""), "");
}

struct DecimalCase {
  std::string label;
  std::string text;
  Overflow overflow;
  std::size_t max_digits;
  std::optional<std::uint64_t> expected;
};
void PrintTo(const DecimalCase& c, std::ostream* os) { *os << c.label; }

class Decimal : public testing::TestWithParam<DecimalCase> {};

TEST_P(Decimal, Parses) {
  const DecimalCase& c = GetParam();
  EXPECT_EQ(parse_decimal(c.text, c.overflow, c.max_digits), c.expected);
}

constexpr std::size_t any = std::numeric_limits<std::size_t>::max();

INSTANTIATE_TEST_SUITE_P(
    Text, Decimal,
    testing::Values(DecimalCase{"zero", "0", Overflow::refuse, any, 0},
                    DecimalCase{"leading_zeros", "007", Overflow::refuse, any, 7},
                    DecimalCase{"empty", "", Overflow::saturate, any, std::nullopt},
                    DecimalCase{"sign", "+1", Overflow::saturate, any, std::nullopt},
                    DecimalCase{"minus", "-1", Overflow::saturate, any, std::nullopt},
                    DecimalCase{"space", "1 ", Overflow::saturate, any, std::nullopt},
                    DecimalCase{"letter", "1x", Overflow::saturate, any, std::nullopt},
                    DecimalCase{"u64_max", "18446744073709551615", Overflow::refuse, 20, u64_max},
                    DecimalCase{"past_u64_refused", "18446744073709551616", Overflow::refuse, 20, std::nullopt},
                    DecimalCase{"past_u64_saturates", "18446744073709551616", Overflow::saturate, 20, u64_max},
                    DecimalCase{"far_past_u64_saturates", "99999999999999999999999999", Overflow::saturate, any,
                                u64_max},
                    DecimalCase{"too_many_digits", "000000000000000000001", Overflow::saturate, 20, std::nullopt},
                    DecimalCase{"many_leading_zeros", "000000000000000000001", Overflow::saturate, any, 1}),
    [](const testing::TestParamInfo<DecimalCase>& info) { return info.param.label; });

}  // namespace
}  // namespace aviary
