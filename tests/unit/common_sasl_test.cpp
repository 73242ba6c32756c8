// common_sasl_test.cpp - the SASL codecs behind SMTP AUTH: strict base64 (RFC 4648)
// both ways, and the PLAIN message (RFC 4616) with its authzid rule.
#include "common/sasl.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace aviary {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------
// base64_decode: what decodes, and to what.

struct DecodeCase {
  const char* label;
  std::string text;
  std::string bytes;
};

void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.label; }
std::string decode_name(const testing::TestParamInfo<DecodeCase>& info) { return info.param.label; }

const std::vector<DecodeCase> decode_cases = {
    {"empty", "", ""},
    // RFC 4648 §10 test vectors.
    {"rfc4648_f", "Zg==", "f"},
    {"rfc4648_fo", "Zm8=", "fo"},
    {"rfc4648_foo", "Zm9v", "foo"},
    {"rfc4648_foob", "Zm9vYg==", "foob"},
    {"rfc4648_fooba", "Zm9vYmE=", "fooba"},
    {"rfc4648_foobar", "Zm9vYmFy", "foobar"},
    {"nul_and_high_octets", "AAECAwD/", "\x00\x01\x02\x03\x00\xff"s},
    {"plus_and_slash", "+/+/", "\xfb\xff\xbf"s},
    {"all_ones", "////", "\xff\xff\xff"s},
    {"all_zero_bits", "AAAA", "\x00\x00\x00"s},
    {"login_username_prompt", "VXNlcm5hbWU6", "Username:"},
    {"login_password_prompt", "UGFzc3dvcmQ6", "Password:"},
    {"plain_message", "AGFsaWNlQGV4YW1wbGUudGVzdABwdw==", "\0alice@example.test\0pw"s},
    {"utf8_text", "zrTOv866zrnOvM6u", "δοκιμή"},
};

class Base64Decode : public testing::TestWithParam<DecodeCase> {};

TEST_P(Base64Decode, Decodes) {
  const DecodeCase& c = GetParam();
  std::optional<std::string> out = base64_decode(c.text);
  ASSERT_TRUE(out.has_value()) << c.text;
  EXPECT_EQ(*out, c.bytes);
}

TEST_P(Base64Decode, EncodeGivesTheTextBack) {
  const DecodeCase& c = GetParam();
  EXPECT_EQ(base64_encode(c.bytes), c.text);
}

INSTANTIATE_TEST_SUITE_P(Table, Base64Decode, testing::ValuesIn(decode_cases), decode_name);

// ---------------------------------------------------------------------------
// base64_decode strictness: anything but canonical, padded RFC 4648 §4 text
// is refused, so that a SASL response is never guessed at.

struct RejectCase {
  const char* label;
  std::string text;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.label; }
std::string reject_name(const testing::TestParamInfo<RejectCase>& info) { return info.param.label; }

const std::vector<RejectCase> reject_cases = {
    {"one_char", "Z"},
    {"unpadded_one_octet", "Zg"},
    {"unpadded_two_octets", "Zm8"},
    {"unpadded_tail", "Zm9vYg"},
    {"five_chars", "Zm9vY"},
    {"single_pad_short", "Zg="},
    {"too_much_padding", "Zg==="},
    {"only_padding", "===="},
    {"pad_in_second_place", "Z==="},
    {"pad_in_first_place", "=Zm9"},
    {"data_after_single_pad", "Zm=v"},
    {"data_after_double_pad", "Zg=A"},
    {"padded_group_then_more", "Zg==Zm9v"},
    {"pad_inside_first_of_two", "Zm8=Zm9v"},
    {"exclamation", "Zm9v!A=="},
    {"space_inside", "Zm 9v"},
    {"space_padded_to_four", "Zm9v    "},
    {"leading_space", " Zm9vYmE"},
    {"trailing_crlf", "Zm9v\r\n"},
    {"tab", "Zm9\t"},
    {"url_safe_minus", "Zm9-"},
    {"url_safe_underscore", "Zm9_"},
    {"star", "****"},
    {"nul_inside", "Zm9\0"s},
    {"high_octets", "\xc3\xa9\xc3\xa9"s},
    {"dot", "Zm9."},
};

class Base64Reject : public testing::TestWithParam<RejectCase> {};

TEST_P(Base64Reject, IsRefused) {
  const RejectCase& c = GetParam();
  std::optional<std::string> out = base64_decode(c.text);
  EXPECT_FALSE(out.has_value()) << "decoded to " << testing::PrintToString(out.value_or(""));
}

INSTANTIATE_TEST_SUITE_P(Table, Base64Reject, testing::ValuesIn(reject_cases), reject_name);

// ---------------------------------------------------------------------------
// base64_encode beyond the table.

TEST(Base64Encode, PaddingFollowsTheLength) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("a"), "YQ==");
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_EQ(base64_encode("abc"), "YWJj");
  EXPECT_EQ(base64_encode("abcd"), "YWJjZA==");
}

TEST(Base64Encode, OutputUsesOnlyTheStandardAlphabet) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string text = base64_encode(all);
  EXPECT_EQ(text.size(), (all.size() + 2) / 3 * 4);
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    EXPECT_TRUE(ok) << "character " << static_cast<int>(static_cast<unsigned char>(c));
  }
}

TEST(Base64Encode, RoundTripsEveryLengthAndOctet) {
  // Each length 0..64 with octets that walk through all 256 values, so every
  // octet sits at every position of a 3-octet group.
  for (std::size_t length = 0; length <= 64; ++length) {
    for (int start = 0; start < 256; start += 37) {
      std::string bytes;
      for (std::size_t i = 0; i < length; ++i) bytes += static_cast<char>((start + 101 * i) & 0xff);
      std::string text = base64_encode(bytes);
      EXPECT_EQ(text.size() % 4, 0u) << "length " << length;
      std::optional<std::string> back = base64_decode(text);
      ASSERT_TRUE(back.has_value()) << "length " << length << " start " << start << ": " << text;
      EXPECT_EQ(*back, bytes) << "length " << length << " start " << start;
    }
  }
}

// ---------------------------------------------------------------------------
// decode_plain (RFC 4616 §2): base64("authzid NUL authcid NUL passwd").

struct PlainCase {
  const char* label;
  std::string message;  // before base64
  std::string authzid;
  std::string user;
  std::string password;
};

void PrintTo(const PlainCase& c, std::ostream* os) { *os << c.label; }
std::string plain_name(const testing::TestParamInfo<PlainCase>& info) { return info.param.label; }

const std::vector<PlainCase> plain_cases = {
    {"no_authzid", "\0alice@example.test\0secret"s, "", "alice@example.test", "secret"},
    {"authzid_equal_to_user", "alice@example.test\0alice@example.test\0secret"s, "alice@example.test",
     "alice@example.test", "secret"},
    {"password_with_spaces", "\0alice@example.test\0correct horse battery staple"s, "", "alice@example.test",
     "correct horse battery staple"},
    {"password_with_base64_and_colon_chars", "\0alice@example.test\0a=b:c+d/e=="s, "", "alice@example.test",
     "a=b:c+d/e=="},
    {"utf8_user_and_password", "\0δοκιμή@example.test\0pässwörd"s, "", "δοκιμή@example.test", "pässwörd"},
    {"user_without_domain", "\0alice\0pw"s, "", "alice", "pw"},
    {"long_password", "\0alice@example.test\0"s + std::string(1000, 'x'), "", "alice@example.test",
     std::string(1000, 'x')},
};

class DecodePlain : public testing::TestWithParam<PlainCase> {};

TEST_P(DecodePlain, SplitsTheThreeFields) {
  const PlainCase& c = GetParam();
  std::optional<Credentials> out = decode_plain(base64_encode(c.message));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->authzid, c.authzid);
  EXPECT_EQ(out->user, c.user);
  EXPECT_EQ(out->password, c.password);
}

INSTANTIATE_TEST_SUITE_P(Table, DecodePlain, testing::ValuesIn(plain_cases), plain_name);

struct BadPlainCase {
  const char* label;
  std::string response;  // exactly what the client sent (already base64, or not)
};

void PrintTo(const BadPlainCase& c, std::ostream* os) { *os << c.label; }
std::string bad_plain_name(const testing::TestParamInfo<BadPlainCase>& info) { return info.param.label; }

const std::vector<BadPlainCase> bad_plain_cases = {
    {"empty_response", ""},
    {"not_base64", "not base64!"},
    {"unpadded_base64", "AGFsaWNlAHB3eA"},  // "\0alice\0pwx" without its "=="
    {"raw_message_not_encoded", "\0alice\0pw"s},
    {"no_nul", base64_encode("alicepw")},
    {"one_nul", base64_encode("alice\0pw"s)},
    {"three_nuls_trailing", base64_encode("\0alice\0pw\0"s)},
    {"nul_inside_password", base64_encode("\0alice\0p\0w"s)},
    {"only_nuls", base64_encode("\0\0"s)},
    {"empty_user", base64_encode("\0\0secret"s)},
    {"empty_user_with_authzid", base64_encode("alice\0\0secret"s)},
    // RFC 4616 §2: acting as someone else is a proxy login we never allow.
    {"authzid_is_another_user", base64_encode("bob@example.test\0alice@example.test\0secret"s)},
    {"authzid_is_another_domain", base64_encode("alice@example.org\0alice@example.test\0secret"s)},
    {"authzid_with_extra_char", base64_encode("alice@example.testx\0alice@example.test\0secret"s)},
};

class DecodePlainReject : public testing::TestWithParam<BadPlainCase> {};

TEST_P(DecodePlainReject, IsRefused) {
  const BadPlainCase& c = GetParam();
  std::optional<Credentials> out = decode_plain(c.response);
  EXPECT_FALSE(out.has_value()) << "accepted as user " << testing::PrintToString(out ? out->user : "")
                                << " authzid " << testing::PrintToString(out ? out->authzid : "");
}

INSTANTIATE_TEST_SUITE_P(Table, DecodePlainReject, testing::ValuesIn(bad_plain_cases), bad_plain_name);

}  // namespace
}  // namespace aviary
