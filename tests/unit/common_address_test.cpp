// common_address_test.cpp - parse_address, normalize_domain and the canonical forms.
#include "common/address.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace aviary {
namespace {

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

// A valid domain of exactly `octets` octets: 62-octet labels and a shorter last one.
std::string domain_of(std::size_t octets) {
  std::string out;
  while (octets > 63) {
    out += repeat('d', 62) + ".";
    octets -= 63;
  }
  return out + repeat('e', octets);
}

struct ValidCase {
  std::string label;
  std::string input;
  std::string local;
  std::string domain;
  std::string key;
  std::string wire;  // to_string()
  bool smtputf8;
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.label; }
std::string case_name(const testing::TestParamInfo<ValidCase>& info) { return info.param.label; }

const std::vector<ValidCase> valid_cases = {
    {"simple", "alice@example.org", "alice", "example.org", "alice@example.org", "alice@example.org", false},
    {"mixed_case", "Alice.Smith@Example.ORG", "Alice.Smith", "example.org", "alice.smith@example.org",
     "Alice.Smith@example.org", false},
    {"atext_symbols", "!#$%&'*+-/=?^_`{|}~@x.test", "!#$%&'*+-/=?^_`{|}~", "x.test", "!#$%&'*+-/=?^_`{|}~@x.test",
     "!#$%&'*+-/=?^_`{|}~@x.test", false},
    {"dots_and_digits", "a.b.c.42@x.test", "a.b.c.42", "x.test", "a.b.c.42@x.test", "a.b.c.42@x.test", false},
    {"quoted_space", R"("john doe"@x.test)", "john doe", "x.test", "john doe@x.test", R"("john doe"@x.test)", false},
    {"quoted_escapes", R"("a\"b\\c"@x.test)", R"(a"b\c)", "x.test", R"(a"b\c@x.test)", R"("a\"b\\c"@x.test)",
     false},
    {"quoted_needless_escapes", R"("\a\b"@x.test)", "ab", "x.test", "ab@x.test", "ab@x.test", false},
    {"quoted_equals_unquoted", R"("alice"@x.test)", "alice", "x.test", "alice@x.test", "alice@x.test", false},
    {"quoted_dot_atom_with_dots", R"("a.b"@x.test)", "a.b", "x.test", "a.b@x.test", "a.b@x.test", false},
    {"quoted_at_sign", R"("a@b"@x.test)", "a@b", "x.test", "a@b@x.test", R"("a@b"@x.test)", false},
    {"quoted_double_dot", R"("a..b"@x.test)", "a..b", "x.test", "a..b@x.test", R"("a..b"@x.test)", false},
    {"quoted_leading_dot", R"(".a"@x.test)", ".a", "x.test", ".a@x.test", R"(".a"@x.test)", false},
    {"quoted_utf8", R"("jöhn dœ"@x.test)", "jöhn dœ", "x.test", "jöhn dœ@x.test", R"("jöhn dœ"@x.test)", true},
    {"quoted_uppercase_folded", R"("Mr Smith"@x.test)", "Mr Smith", "x.test", "mr smith@x.test",
     R"("Mr Smith"@x.test)", false},
    {"smtputf8_greek", "δοκιμή@παράδειγμα.δοκιμή", "δοκιμή", "xn--hxajbheg2az3al.xn--jxalpdlp",
     "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp", "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp", true},
    {"smtputf8_chinese", "用户@例子.广告", "用户", "xn--fsqu00a.xn--4rr70v", "用户@xn--fsqu00a.xn--4rr70v",
     "用户@xn--fsqu00a.xn--4rr70v", true},
    // fold_local folds ASCII only: "Δ" keeps its case in the key.
    {"smtputf8_uppercase_kept", "ΔX@x.test", "ΔX", "x.test", "Δx@x.test", "ΔX@x.test", true},
    {"ideographic_full_stop", "用户@例子。广告", "用户", "xn--fsqu00a.xn--4rr70v", "用户@xn--fsqu00a.xn--4rr70v",
     "用户@xn--fsqu00a.xn--4rr70v", true},
    {"idn_utf8", "info@münchen.example", "info", "xn--mnchen-3ya.example", "info@xn--mnchen-3ya.example",
     "info@xn--mnchen-3ya.example", false},
    {"idn_a_label", "info@xn--mnchen-3ya.example", "info", "xn--mnchen-3ya.example", "info@xn--mnchen-3ya.example",
     "info@xn--mnchen-3ya.example", false},
    {"idn_upper_utf8", "INFO@MÜNCHEN.Example", "INFO", "xn--mnchen-3ya.example", "info@xn--mnchen-3ya.example",
     "INFO@xn--mnchen-3ya.example", false},
    {"idn_upper_a_label", "info@XN--MNCHEN-3YA.EXAMPLE", "info", "xn--mnchen-3ya.example",
     "info@xn--mnchen-3ya.example", "info@xn--mnchen-3ya.example", false},
    // Nontransitional processing keeps "ß" (RFC 5891) instead of mapping it to "ss".
    {"idn_sharp_s", "a@ß.de", "a", "xn--zca.de", "a@xn--zca.de", "a@xn--zca.de", false},
    {"idn_fullwidth_mapped", "a@ｅｘａｍｐｌｅ.test", "a", "example.test", "a@example.test", "a@example.test", false},
    {"trailing_dot", "bob@example.org.", "bob", "example.org", "bob@example.org", "bob@example.org", false},
    {"single_label", "root@localhost", "root", "localhost", "root@localhost", "root@localhost", false},
    {"hyphen_inside_label", "a@my-host.example", "a", "my-host.example", "a@my-host.example", "a@my-host.example",
     false},
    {"digit_first_label", "a@3com.example", "a", "3com.example", "a@3com.example", "a@3com.example", false},
    {"double_hyphen_not_xn", "a@ab--cd.example", "a", "ab--cd.example", "a@ab--cd.example", "a@ab--cd.example",
     false},
    {"ipv4_literal", "postmaster@[192.0.2.1]", "postmaster", "[192.0.2.1]", "postmaster@[192.0.2.1]",
     "postmaster@[192.0.2.1]", false},
    {"ipv6_literal", "postmaster@[IPv6:2001:db8::1]", "postmaster", "[IPv6:2001:db8::1]",
     "postmaster@[IPv6:2001:db8::1]", "postmaster@[IPv6:2001:db8::1]", false},
    {"ipv6_v4_mapped_literal", "a@[IPv6:::ffff:192.0.2.1]", "a", "[IPv6:::ffff:192.0.2.1]",
     "a@[IPv6:::ffff:192.0.2.1]", "a@[IPv6:::ffff:192.0.2.1]", false},
    {"local_64_octets", repeat('a', 64) + "@x.test", repeat('a', 64), "x.test", repeat('a', 64) + "@x.test",
     repeat('a', 64) + "@x.test", false},
    {"quoted_local_64_octets", "\"" + repeat('a', 61) + " \"@x.test", repeat('a', 61) + " ", "x.test",
     repeat('a', 61) + " @x.test", "\"" + repeat('a', 61) + " \"@x.test", false},
    {"label_63_octets", "a@" + repeat('l', 63) + ".test", "a", repeat('l', 63) + ".test",
     "a@" + repeat('l', 63) + ".test", "a@" + repeat('l', 63) + ".test", false},
    // 64 + 1 + 189 = 254 octets: 256 with the angle brackets of a path.
    {"path_256_octets", repeat('a', 64) + "@" + domain_of(189), repeat('a', 64), domain_of(189),
     repeat('a', 64) + "@" + domain_of(189), repeat('a', 64) + "@" + domain_of(189), false},
};

class ValidAddress : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidAddress, Parses) {
  const ValidCase& c = GetParam();
  Result<Address> a = parse_address(c.input);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->local, c.local);
  EXPECT_EQ(a->domain, c.domain);
  EXPECT_EQ(a->key(), c.key);
  EXPECT_EQ(a->to_string(), c.wire);
  EXPECT_EQ(a->needs_smtputf8(), c.smtputf8);
}

// What to_string writes must parse back to the same address.
TEST_P(ValidAddress, WireFormRoundTrips) {
  Result<Address> a = parse_address(GetParam().input);
  ASSERT_TRUE(a.ok()) << a.error().message;
  Result<Address> again = parse_address(a->to_string());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->local, a->local);
  EXPECT_EQ(again->domain, a->domain);
}

INSTANTIATE_TEST_SUITE_P(Table, ValidAddress, testing::ValuesIn(valid_cases), case_name);

struct InvalidCase {
  std::string label;
  std::string input;
  std::string error;  // a fragment of the message
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.label; }
std::string invalid_name(const testing::TestParamInfo<InvalidCase>& info) { return info.param.label; }

const std::vector<InvalidCase> invalid_cases = {
    {"empty_input", "", "missing @"},
    {"missing_at", "alice.example.org", "missing @"},
    {"at_only_inside_quotes", R"("a@b")", "missing @"},
    {"empty_local", "@example.org", "empty local part"},
    {"empty_quoted_local", R"(""@example.org)", "empty local part"},
    {"empty_domain", "alice@", "empty domain"},
    {"local_65_octets", repeat('a', 65) + "@x.test", "local part longer than 64 octets"},
    {"quoted_local_65_octets", "\"" + repeat('a', 62) + " \"@x.test", "local part longer than 64 octets"},
    {"path_257_octets", repeat('a', 64) + "@" + domain_of(190), "address longer than 254 octets"},
    {"leading_dot", ".alice@x.test", "local part begins with a dot"},
    {"trailing_dot_local", "alice.@x.test", "local part ends with a dot"},
    {"double_dot", "al..ice@x.test", "consecutive dots in local part"},
    {"space_outside_quotes", "john doe@x.test", "invalid character in local part"},
    {"tab", "a\tb@x.test", "invalid character in local part"},
    {"control_char", "a\x01@x.test", "invalid character in local part"},
    {"delete_char", "a\x7f@x.test", "invalid character in local part"},
    {"crlf", "a\r\nb@x.test", "invalid character in local part"},
    {"nul", std::string("a\0b@x.test", 10), "invalid character in local part"},
    {"control_in_quotes", "\"a\x01\"@x.test", "invalid character in local part"},
    {"cr_in_quotes", "\"a\rb\"@x.test", "invalid character in local part"},
    {"quoted_pair_control", "\"a\\\x01\"@x.test", "invalid quoted-pair"},
    {"quoted_pair_utf8", "\"a\\é\"@x.test", "invalid quoted-pair"},
    {"unterminated_quote", R"("abc@x.test)", "unterminated quoted string"},
    {"text_after_quotes", R"("a"b@x.test)", "invalid character in local part"},
    {"mixed_quoted_atom", R"(a."b"@x.test)", "invalid character in local part"},
    {"comment", "(comment)a@x.test", "invalid character in local part"},
    {"two_ats", "a@b@x.test", "invalid character in local part"},
    {"angle_brackets", "<a@x.test>", "invalid character in local part"},
    {"utf8_truncated", "a\xc3@x.test", "invalid UTF-8 in local part"},
    {"utf8_overlong_2", "\xc0\xaf@x.test", "invalid UTF-8 in local part"},
    {"utf8_overlong_3", "\xe0\x80\xaf@x.test", "invalid UTF-8 in local part"},
    {"utf8_overlong_4", "\xf0\x80\x80\xaf@x.test", "invalid UTF-8 in local part"},
    {"utf8_surrogate", "\xed\xa0\x80@x.test", "invalid UTF-8 in local part"},
    {"utf8_above_max", "\xf4\x90\x80\x80@x.test", "invalid UTF-8 in local part"},
    {"utf8_stray_continuation", "a\x80@x.test", "invalid UTF-8 in local part"},
    {"utf8_ff", "\"a\xff\"@x.test", "invalid UTF-8 in local part"},
    {"c1_control", "a\xc2\x9b@x.test", "invalid character in local part"},
    {"domain_bad_utf8", "a@m\xc3.example", "invalid domain: invalid UTF-8"},
    {"domain_leading_hyphen", "a@-example.org", "invalid domain: label begins or ends with a hyphen"},
    {"domain_trailing_hyphen", "a@example-.org", "invalid domain: label begins or ends with a hyphen"},
    {"idn_leading_hyphen", "a@-münchen.example", "hyphen"},
    {"label_64_octets", "a@" + repeat('l', 64) + ".test", "invalid domain: label longer than 63 octets"},
    {"domain_double_dot", "a@example..org", "invalid domain: empty label"},
    {"domain_leading_dot", "a@.example.org", "invalid domain: empty label"},
    {"domain_only_dot", "a@.", "invalid domain: empty label"},
    {"idn_double_dot", "a@例子..广告", "invalid domain: empty label"},
    {"domain_underscore", "a@my_host.example", "invalid domain: invalid character"},
    {"domain_space", "a@exa mple.org", "invalid domain: invalid character"},
    {"domain_control", "a@exa\x01mple.org", "invalid domain: invalid character"},
    {"domain_nul", std::string("a@exa\0mple.org", 14), "invalid domain: invalid character"},
    {"idn_nul", std::string("a@mü\0nchen.org", 15), "invalid domain: invalid character"},
    {"a_label_bad_punycode", "a@xn--zzzzzz.example", "invalid domain: invalid A-label"},
    {"a_label_empty", "a@xn--.example", "invalid domain: label begins or ends with a hyphen"},
    {"a_label_disallowed", "a@xn--ls8h.example", "invalid domain: invalid A-label"},
    // Punycode of "mÜnchen": decodes, but is not what "münchen" encodes to.
    {"a_label_not_canonical", "a@xn--mnchen-psa.example", "invalid domain: invalid A-label"},
    {"idn_disallowed", "a@💩.example", "invalid domain"},
    {"ipv4_out_of_range", "a@[192.0.2.256]", "invalid domain: invalid address literal"},
    {"ipv4_short", "a@[192.0.2]", "invalid domain: invalid address literal"},
    {"ipv4_nul", std::string("a@[192.0.2.1\0]", 14), "invalid domain: invalid address literal"},
    {"ipv6_bad_digit", "a@[IPv6:2001:db8::g]", "invalid domain: invalid address literal"},
    {"ipv6_without_tag", "a@[2001:db8::1]", "invalid domain: invalid address literal"},
    {"general_literal", "a@[x400:something]", "invalid domain: invalid address literal"},
    {"literal_unterminated", "a@[192.0.2.1", "invalid domain: unterminated address literal"},
};

class InvalidAddress : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidAddress, IsRejected) {
  const InvalidCase& c = GetParam();
  Result<Address> a = parse_address(c.input);
  ASSERT_FALSE(a.ok()) << "accepted as " << a->key();
  EXPECT_EQ(a.error().code, Errc::invalid);
  EXPECT_NE(a.error().message.find(c.error), std::string::npos) << "message: " << a.error().message;
}

INSTANTIATE_TEST_SUITE_P(Table, InvalidAddress, testing::ValuesIn(invalid_cases), invalid_name);

TEST(AddressKey, SpellingsOfOneMailboxShareAKey) {
  const std::vector<std::string> spellings = {
      "info@münchen.example",           "info@xn--mnchen-3ya.example", "INFO@MÜNCHEN.Example",
      R"("info"@münchen.example.)",     "Info@XN--MNCHEN-3YA.EXAMPLE", R"("i\nfo"@xn--mnchen-3ya.example)",
  };
  for (const std::string& s : spellings) {
    Result<Address> a = parse_address(s);
    ASSERT_TRUE(a.ok()) << s << ": " << a.error().message;
    EXPECT_EQ(a->key(), "info@xn--mnchen-3ya.example") << s;
  }
}

TEST(AddressKey, DifferentMailboxesDiffer) {
  auto key = [](std::string_view s) { return parse_address(s)->key(); };
  EXPECT_NE(key("a.b@x.test"), key("ab@x.test"));
  EXPECT_NE(key(R"("a b"@x.test)"), key("ab@x.test"));
  EXPECT_NE(key("a@x.test"), key("a@x.test.example"));
  EXPECT_NE(key("a@[192.0.2.1]"), key("a@192.0.2.1"));
}

TEST(FoldLocal, FoldsAsciiOnly) {
  EXPECT_EQ(fold_local("AbC.XyZ"), "abc.xyz");
  EXPECT_EQ(fold_local("ÄÖÜ"), "ÄÖÜ");
  EXPECT_EQ(fold_local("ΔX-Y"), "Δx-y");
  EXPECT_EQ(fold_local(""), "");
}

struct DomainCase {
  std::string label;
  std::string input;
  std::string expected;  // canonical form, or an error fragment when !ok
  bool ok;
};

void PrintTo(const DomainCase& c, std::ostream* os) { *os << c.label; }
std::string domain_name(const testing::TestParamInfo<DomainCase>& info) { return info.param.label; }

// Four labels of 54 "a" and one "ü": 232 octets in UTF-8, 256 as A-labels.
std::string grows_past_255() {
  const std::string label = repeat('a', 54) + "ü";
  return label + "." + label + "." + label + "." + label + ".abcd";
}

const std::vector<DomainCase> domain_cases = {
    {"lowercased", "Example.ORG", "example.org", true},
    {"utf8", "münchen.example", "xn--mnchen-3ya.example", true},
    {"utf8_upper", "MÜNCHEN.Example", "xn--mnchen-3ya.example", true},
    {"a_label", "xn--mnchen-3ya.example", "xn--mnchen-3ya.example", true},
    {"a_label_upper_trailing_dot", "XN--MNCHEN-3YA.example.", "xn--mnchen-3ya.example", true},
    // NFC input: "u" + U+0308 COMBINING DIAERESIS is "ü".
    {"utf8_decomposed", "mu\xcc\x88nchen.example", "xn--mnchen-3ya.example", true},
    {"octets_255", domain_of(255), domain_of(255), true},
    {"octets_255_and_root_dot", domain_of(255) + ".", domain_of(255), true},
    {"octets_256", domain_of(256), "invalid domain: longer than 255 octets", false},
    {"a_labels_past_255", grows_past_255(), "invalid domain: longer than 255 octets", false},
    {"utf8_label_past_63_as_a_label", "a." + repeat('a', 58) + "ü", "invalid domain", false},
    {"ipv4_literal", "[192.0.2.1]", "[192.0.2.1]", true},
    {"ipv6_literal_as_given", "[ipv6:2001:DB8::1]", "[ipv6:2001:DB8::1]", true},
    {"empty", "", "invalid domain: empty", false},
    {"root_only", ".", "invalid domain: empty label", false},
};

class NormalizeDomain : public testing::TestWithParam<DomainCase> {};

TEST_P(NormalizeDomain, Canonicalizes) {
  const DomainCase& c = GetParam();
  Result<std::string> d = normalize_domain(c.input);
  if (c.ok) {
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(*d, c.expected);
  } else {
    ASSERT_FALSE(d.ok()) << "accepted as " << *d;
    EXPECT_EQ(d.error().code, Errc::invalid);
    EXPECT_NE(d.error().message.find(c.expected), std::string::npos) << "message: " << d.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, NormalizeDomain, testing::ValuesIn(domain_cases), domain_name);

}  // namespace
}  // namespace aviary
