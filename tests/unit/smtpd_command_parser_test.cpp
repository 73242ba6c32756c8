// smtpd_command_parser_test.cpp - split_command, parse_path_argument and
// parse_bdat (RFC 5321 §4.1.1, §4.1.2; RFC 3030 §2), one labelled case per row.
#include "smtpd/command_parser.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "smtpd/commands.hpp"

namespace aviary::smtpd {
namespace {

template <class Case>
std::string case_name(const testing::TestParamInfo<Case>& info) {
  return info.param.label;
}

// split_command ----------------------------------------------------------------

struct SplitCase {
  std::string label;
  std::string line;
  std::string verb;
  std::string args;
};
void PrintTo(const SplitCase& c, std::ostream* os) { *os << c.label; }

const std::vector<SplitCase> split_cases = {
    {"verb_and_args", "MAIL FROM:<a@b.test> SIZE=10", "MAIL", "FROM:<a@b.test> SIZE=10"},
    {"lower_case_verb", "mail FROM:<a@b.test>", "MAIL", "FROM:<a@b.test>"},
    {"mixed_case_verb", "eHlO client.test", "EHLO", "client.test"},
    {"args_keep_their_case", "RCPT to:<Alice@Example.TEST>", "RCPT", "to:<Alice@Example.TEST>"},
    {"verb_only", "QUIT", "QUIT", ""},
    {"verb_and_one_space", "NOOP ", "NOOP", ""},
    {"only_the_first_space_separates", "EHLO  two", "EHLO", " two"},
    {"trailing_spaces_kept_in_args", "HELO x  ", "HELO", "x  "},
    {"empty_line", "", "", ""},
    {"leading_space_gives_empty_verb", " QUIT", "", "QUIT"},
    {"no_space_after_verb", "MAILFROM:<a@b.test>", "MAILFROM:<A@B.TEST>", ""},
    {"tab_is_not_a_separator", "NOOP\tx", "NOOP\tX", ""},
    {"non_ascii_verb_untouched", "\xC3\xA9hlo x", "\xC3\xA9HLO", "x"},
};

class SplitCommand : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitCommand, SplitsVerbAndArguments) {
  const SplitCase& c = GetParam();
  CommandLine cmd = split_command(c.line);
  EXPECT_EQ(cmd.verb, c.verb);
  EXPECT_EQ(cmd.args, c.args);
}

INSTANTIATE_TEST_SUITE_P(Smtpd, SplitCommand, testing::ValuesIn(split_cases), case_name<SplitCase>);

// parse_path_argument: accepted --------------------------------------------------

struct Param {
  std::string keyword;
  std::optional<std::string> value;
};

struct PathCase {
  std::string label;
  std::string args;
  std::string prefix;
  bool allow_null;
  // Expected address (nullopt = the null path), as local and domain.
  std::optional<std::pair<std::string, std::string>> address;
  std::string text;  // as written between the brackets
  std::vector<Param> parameters;
};
void PrintTo(const PathCase& c, std::ostream* os) { *os << c.label; }

using AD = std::pair<std::string, std::string>;

const std::vector<PathCase> path_cases = {
    {"simple_from", "FROM:<alice@example.test>", "FROM:", true, AD{"alice", "example.test"}, "alice@example.test", {}},
    {"simple_to", "TO:<bob@example.test>", "TO:", false, AD{"bob", "example.test"}, "bob@example.test", {}},
    {"prefix_case_insensitive", "from:<a@x.test>", "FROM:", true, AD{"a", "x.test"}, "a@x.test", {}},
    {"prefix_mixed_case", "To:<a@x.test>", "TO:", false, AD{"a", "x.test"}, "a@x.test", {}},
    {"domain_canonicalised", "TO:<Alice@EXAMPLE.Test>", "TO:", false, AD{"Alice", "example.test"},
     "Alice@EXAMPLE.Test", {}},
    {"null_path", "FROM:<>", "FROM:", true, std::nullopt, "", {}},
    {"null_path_with_parameter", "FROM:<> SIZE=12", "FROM:", true, std::nullopt, "", {{"SIZE", "12"}}},
    {"space_after_colon", "FROM: <a@x.test>", "FROM:", true, AD{"a", "x.test"}, "a@x.test", {}},
    {"spaces_after_colon", "TO:   <a@x.test>", "TO:", false, AD{"a", "x.test"}, "a@x.test", {}},
    {"source_route_one_hop", "TO:<@relay.test:a@x.test>", "TO:", false, AD{"a", "x.test"}, "@relay.test:a@x.test",
     {}},
    {"source_route_two_hops", "FROM:<@r1.test,@r2.test:a@x.test>", "FROM:", true, AD{"a", "x.test"},
     "@r1.test,@r2.test:a@x.test", {}},
    {"quoted_local_part", "FROM:<\"john doe\"@x.test>", "FROM:", true, AD{"john doe", "x.test"},
     "\"john doe\"@x.test", {}},
    {"quoted_local_part_with_gt", "TO:<\"a>b\"@x.test>", "TO:", false, AD{"a>b", "x.test"}, "\"a>b\"@x.test", {}},
    {"quoted_local_part_with_gt_and_params", "FROM:<\"a>b\"@x.test> BODY=8BITMIME", "FROM:", true,
     AD{"a>b", "x.test"}, "\"a>b\"@x.test", {{"BODY", "8BITMIME"}}},
    {"quoted_escaped_quote_then_gt", "TO:<\"a\\\">b\"@x.test>", "TO:", false, AD{"a\">b", "x.test"},
     "\"a\\\">b\"@x.test", {}},
    {"quoted_escaped_backslash", "TO:<\"a\\\\\"@x.test>", "TO:", false, AD{"a\\", "x.test"}, "\"a\\\\\"@x.test", {}},
    {"postmaster_without_domain", "TO:<postmaster>", "TO:", false, AD{"postmaster", ""}, "postmaster", {}},
    {"postmaster_any_case", "TO:<PostMaster>", "TO:", false, AD{"postmaster", ""}, "PostMaster", {}},
    {"postmaster_with_domain", "TO:<postmaster@x.test>", "TO:", false, AD{"postmaster", "x.test"},
     "postmaster@x.test", {}},
    {"utf8_address", "FROM:<δοκιμή@παράδειγμα.δοκιμή>", "FROM:", true,
     AD{"δοκιμή", "xn--hxajbheg2az3al.xn--jxalpdlp"}, "δοκιμή@παράδειγμα.δοκιμή", {}},
    {"address_literal", "TO:<a@[192.0.2.1]>", "TO:", false, AD{"a", "[192.0.2.1]"}, "a@[192.0.2.1]", {}},
    {"parameter_with_value", "FROM:<a@x.test> SIZE=1000", "FROM:", true, AD{"a", "x.test"}, "a@x.test",
     {{"SIZE", "1000"}}},
    {"parameter_without_value", "FROM:<a@x.test> SMTPUTF8", "FROM:", true, AD{"a", "x.test"}, "a@x.test",
     {{"SMTPUTF8", std::nullopt}}},
    {"several_parameters_in_order", "FROM:<a@x.test> SIZE=5 BODY=8BITMIME SMTPUTF8", "FROM:", true,
     AD{"a", "x.test"}, "a@x.test", {{"SIZE", "5"}, {"BODY", "8BITMIME"}, {"SMTPUTF8", std::nullopt}}},
    {"keyword_upper_cased_value_kept", "FROM:<a@x.test> body=8bitMime", "FROM:", true, AD{"a", "x.test"},
     "a@x.test", {{"BODY", "8bitMime"}}},
    {"keyword_with_digits_and_dash", "TO:<a@x.test> X-1=y", "TO:", false, AD{"a", "x.test"}, "a@x.test",
     {{"X-1", "y"}}},
    {"several_spaces_between_parameters", "FROM:<a@x.test>  SIZE=5   SMTPUTF8", "FROM:", true, AD{"a", "x.test"},
     "a@x.test", {{"SIZE", "5"}, {"SMTPUTF8", std::nullopt}}},
    {"trailing_spaces", "FROM:<a@x.test>  ", "FROM:", true, AD{"a", "x.test"}, "a@x.test", {}},
    {"value_with_utf8", "FROM:<a@x.test> X=\xC3\xA9t\xC3\xA9", "FROM:", true, AD{"a", "x.test"}, "a@x.test",
     {{"X", "\xC3\xA9t\xC3\xA9"}}},
    {"value_with_punctuation", "FROM:<a@x.test> ENVID=abc+2B.def", "FROM:", true, AD{"a", "x.test"}, "a@x.test",
     {{"ENVID", "abc+2B.def"}}},
};

class ParsePath : public testing::TestWithParam<PathCase> {};

TEST_P(ParsePath, Accepts) {
  const PathCase& c = GetParam();
  auto parsed = parse_path_argument(c.args, c.prefix, c.allow_null);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  if (c.address) {
    ASSERT_TRUE(parsed->address.has_value());
    EXPECT_EQ(parsed->address->local, c.address->first);
    EXPECT_EQ(parsed->address->domain, c.address->second);
  } else {
    EXPECT_FALSE(parsed->address.has_value());
  }
  EXPECT_EQ(parsed->text, c.text);
  ASSERT_EQ(parsed->parameters.size(), c.parameters.size());
  for (std::size_t i = 0; i < c.parameters.size(); ++i) {
    EXPECT_EQ(parsed->parameters[i].keyword, c.parameters[i].keyword) << "parameter " << i;
    EXPECT_EQ(parsed->parameters[i].value, c.parameters[i].value) << "parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ParsePath, testing::ValuesIn(path_cases), case_name<PathCase>);

// parse_path_argument: refused ---------------------------------------------------

struct BadPathCase {
  std::string label;
  std::string args;
  std::string prefix;
  bool allow_null;
};
void PrintTo(const BadPathCase& c, std::ostream* os) { *os << c.label; }

const std::vector<BadPathCase> bad_path_cases = {
    {"empty", "", "FROM:", true},
    {"wrong_prefix", "TO:<a@x.test>", "FROM:", true},
    {"prefix_without_colon", "FROM <a@x.test>", "FROM:", true},
    {"prefix_only", "FROM:", "FROM:", true},
    {"space_before_colon", "FROM :<a@x.test>", "FROM:", true},
    {"missing_brackets", "FROM:a@x.test", "FROM:", true},
    {"missing_closing_bracket", "FROM:<a@x.test", "FROM:", true},
    {"missing_opening_bracket", "TO:a@x.test>", "TO:", false},
    {"quote_never_closed", "TO:<\"a>b@x.test>", "TO:", false},
    {"null_path_not_allowed", "TO:<>", "TO:", false},
    {"no_domain", "TO:<alice>", "TO:", false},
    {"no_domain_from", "FROM:<alice>", "FROM:", true},
    {"empty_domain", "TO:<alice@>", "TO:", false},
    {"empty_local_part", "TO:<@x.test>", "TO:", false},
    {"source_route_without_colon", "TO:<@relay.test>", "TO:", false},
    {"source_route_to_nothing", "FROM:<@relay.test:>", "FROM:", true},
    {"space_inside_path", "TO:<a b@x.test>", "TO:", false},
    {"double_dot_local", "TO:<a..b@x.test>", "TO:", false},
    {"trailing_garbage_after_gt", "FROM:<a@x.test>x", "FROM:", true},
    {"trailing_gt", "FROM:<a@x.test>>", "FROM:", true},
    {"null_path_trailing_garbage", "FROM:<>SIZE=1", "FROM:", true},
    {"bad_keyword_underscore", "FROM:<a@x.test> X_Y=1", "FROM:", true},
    {"bad_keyword_leading_dash", "FROM:<a@x.test> -X=1", "FROM:", true},
    {"bad_keyword_empty", "FROM:<a@x.test> =1", "FROM:", true},
    {"bad_keyword_utf8", "FROM:<a@x.test> \xC3\xA9=1", "FROM:", true},
    {"empty_value", "FROM:<a@x.test> SIZE=", "FROM:", true},
    {"value_with_equals", "FROM:<a@x.test> X=a=b", "FROM:", true},
    {"value_with_control_char", "FROM:<a@x.test> X=a\x01", "FROM:", true},
    {"value_with_del", "FROM:<a@x.test> X=a\x7F", "FROM:", true},
    {"value_with_tab", "FROM:<a@x.test> X=a\tb", "FROM:", true},
    {"path_too_long", "TO:<" + std::string(250, 'a') + "@x.test>", "TO:", false},
};

class ParsePathRefuses : public testing::TestWithParam<BadPathCase> {};

TEST_P(ParsePathRefuses, WithAnError) {
  const BadPathCase& c = GetParam();
  auto parsed = parse_path_argument(c.args, c.prefix, c.allow_null);
  ASSERT_FALSE(parsed.ok()) << "accepted " << c.args;
  EXPECT_EQ(parsed.error().code, Errc::invalid);
  EXPECT_FALSE(parsed.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ParsePathRefuses, testing::ValuesIn(bad_path_cases), case_name<BadPathCase>);

// parse_bdat ---------------------------------------------------------------------

struct BdatCase {
  std::string label;
  std::string args;
  std::optional<BdatCommand> expected;  // nullopt = syntax error
};
void PrintTo(const BdatCase& c, std::ostream* os) { *os << c.label; }

const std::vector<BdatCase> bdat_cases = {
    {"size_only", "100", BdatCommand{100, false}},
    {"size_and_last", "100 LAST", BdatCommand{100, true}},
    {"last_lower_case", "7 last", BdatCommand{7, true}},
    {"zero_last", "0 LAST", BdatCommand{0, true}},
    {"zero", "0", BdatCommand{0, false}},
    {"leading_zeros", "007", BdatCommand{7, false}},
    {"uint64_max", "18446744073709551615", BdatCommand{18446744073709551615ull, false}},
    {"empty", "", std::nullopt},
    {"not_a_number", "abc", std::nullopt},
    {"negative", "-1", std::nullopt},
    {"plus_sign", "+1", std::nullopt},
    {"hex", "0x10", std::nullopt},
    {"number_then_letters", "10k", std::nullopt},
    {"overflow", "18446744073709551616", std::nullopt},
    {"too_many_digits", "000000000000000000001", std::nullopt},
    {"leading_space", " 10", std::nullopt},
    {"trailing_space", "10 ", std::nullopt},
    {"double_space_before_last", "10  LAST", std::nullopt},
    {"unknown_marker", "10 FIRST", std::nullopt},
    {"last_then_garbage", "10 LAST x", std::nullopt},
    {"last_without_size", "LAST", std::nullopt},
};

class ParseBdat : public testing::TestWithParam<BdatCase> {};

TEST_P(ParseBdat, ParsesSizeAndLast) {
  const BdatCase& c = GetParam();
  auto parsed = parse_bdat(c.args);
  ASSERT_EQ(parsed.has_value(), c.expected.has_value());
  if (!parsed) return;
  EXPECT_EQ(parsed->size, c.expected->size);
  EXPECT_EQ(parsed->last, c.expected->last);
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ParseBdat, testing::ValuesIn(bdat_cases), case_name<BdatCase>);

// parse_size_value (RFC 1870 §3, issue 11 item 16) ---------------------------------

struct SizeCase {
  std::string label;
  std::string text;
  std::optional<std::uint64_t> expected;  // nullopt = syntax error
};
void PrintTo(const SizeCase& c, std::ostream* os) { *os << c.label; }

const std::vector<SizeCase> size_cases = {
    {"zero", "0", 0},
    {"small", "1000", 1000},
    {"leading_zeros", "0010", 10},
    {"uint64_max", "18446744073709551615", 18446744073709551615ull},
    {"just_over_uint64", "18446744073709551616", 18446744073709551615ull},
    {"twenty_nines", "99999999999999999999", 18446744073709551615ull},
    {"twenty_digits_small", "00000000000000000042", 42},
    {"twenty_one_digits", "000000000000000000042", std::nullopt},
    {"empty", "", std::nullopt},
    {"letters", "ten", std::nullopt},
    {"digits_then_letter", "10k", std::nullopt},
    {"negative", "-1", std::nullopt},
    {"plus", "+1", std::nullopt},
    {"space", "1 0", std::nullopt},
};

class ParseSizeValue : public testing::TestWithParam<SizeCase> {};

TEST_P(ParseSizeValue, SaturatesUpTo20Digits) {
  const SizeCase& c = GetParam();
  EXPECT_EQ(parse_size_value(c.text), c.expected);
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ParseSizeValue, testing::ValuesIn(size_cases), case_name<SizeCase>);

// HELO/EHLO names (RFC 5321 §4.1.1.1, issue 11 item 22) ---------------------------

struct HeloCase {
  std::string label;
  std::string name;
  bool valid;
  std::string trace;  // helo_for_trace
};
void PrintTo(const HeloCase& c, std::ostream* os) { *os << c.label; }

const std::vector<HeloCase> helo_cases = {
    {"domain", "client.example.net", true, "client.example.net"},
    {"single_label", "localhost", true, "localhost"},
    {"digits_and_hyphens", "mx-1.0example.test", true, "mx-1.0example.test"},
    {"upper_case", "MX.Example.NET", true, "MX.Example.NET"},
    {"ipv4_literal", "[192.0.2.1]", true, "[192.0.2.1]"},
    {"ipv6_literal", "[IPv6:2001:db8::1]", true, "[IPv6:2001:db8::1]"},
    {"parentheses", "evil(x)", false, "\"evil\\(x\\)\""},
    {"comment_injection", "a)(by-forged", false, "\"a\\)\\(by-forged\""},
    {"quote_and_backslash", "a\"b\\c", false, "\"a\\\"b\\\\c\""},
    {"eight_bit", "h\xc3\xa9llo", false, "\"h\\xC3\\xA9llo\""},
    {"underscore", "my_pc", false, "\"my_pc\""},
    {"empty_label", "a..b", false, "\"a..b\""},
    {"trailing_dot", "host.", false, "\"host.\""},
    {"leading_hyphen", "-host", false, "\"-host\""},
    {"label_too_long", std::string(64, 'a') + ".test", false, "\"" + std::string(64, 'a') + ".test\""},
    {"bad_literal", "[999.1.1.1]", false, "\"[999.1.1.1]\""},
    {"unclosed_literal", "[192.0.2.1", false, "\"[192.0.2.1\""},
    {"semicolon", "a;b", false, "\"a;b\""},
};

class HeloName : public testing::TestWithParam<HeloCase> {};

TEST_P(HeloName, ValidatedAndQuotedForTheTrace) {
  const HeloCase& c = GetParam();
  EXPECT_EQ(valid_helo(c.name), c.valid);
  std::string trace = helo_for_trace(c.name);
  EXPECT_EQ(trace, c.trace);
  for (unsigned char ch : trace) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "printable ASCII only: " << trace;
}

INSTANTIATE_TEST_SUITE_P(Smtpd, HeloName, testing::ValuesIn(helo_cases), case_name<HeloCase>);

}  // namespace
}  // namespace aviary::smtpd
