// common_password_test.cpp - Argon2id hashes: PHC format, verification, rejection of anything else.
#include "common/password.hpp"

#include <argon2.h>
#include <gtest/gtest.h>

#include <cctype>
#include <stdexcept>
#include <string>
#include <string_view>

namespace aviary {
namespace {

// Small enough that the suite stays fast; the defaults get one test below.
const PasswordParams fast{.memory_kib = 1024, .iterations = 1, .parallelism = 1};

bool is_base64(std::string_view s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

// phc_params - the "m=...,t=...,p=..." field of an Argon2id v19 PHC string
// with a 16-octet salt and a 32-octet hash (22 and 43 unpadded base64
// characters), or "" if `phc` is not one. (std::regex would do, but trips
// GCC 12's -Wmaybe-uninitialized in optimized -Werror builds.)
std::string phc_params(std::string_view phc) {
  constexpr std::string_view prefix = "$argon2id$v=19$";
  if (!phc.starts_with(prefix)) return "";
  phc.remove_prefix(prefix.size());
  const std::size_t salt_at = phc.find('$');
  const std::size_t hash_at = phc.find('$', salt_at + 1);
  if (salt_at == std::string_view::npos || hash_at == std::string_view::npos) return "";
  const std::string_view salt = phc.substr(salt_at + 1, hash_at - salt_at - 1);
  const std::string_view hash = phc.substr(hash_at + 1);
  if (salt.size() != 22 || hash.size() != 43 || !is_base64(salt) || !is_base64(hash)) return "";
  return std::string(phc.substr(0, salt_at));
}

TEST(HashPassword, IsAnArgon2idPhcString) {
  const std::string phc = hash_password("correct horse", fast);
  EXPECT_EQ(phc_params(phc), "m=1024,t=1,p=1") << phc;
}

TEST(HashPassword, ParamsAppearInTheString) {
  const std::string phc = hash_password("correct horse", {.memory_kib = 2048, .iterations = 3, .parallelism = 2});
  EXPECT_EQ(phc_params(phc), "m=2048,t=3,p=2") << phc;
  EXPECT_TRUE(verify_password("correct horse", phc));
}

TEST(HashPassword, DefaultParams) {
  const PasswordParams defaults;
  const std::string phc = hash_password("correct horse", defaults);
  EXPECT_EQ(phc_params(phc), "m=19456,t=2,p=1") << phc;
  EXPECT_TRUE(verify_password("correct horse", phc));
  EXPECT_FALSE(verify_password("correct horsE", phc));
}

TEST(HashPassword, SaltMakesEachHashDifferent) {
  const std::string a = hash_password("same", fast);
  const std::string b = hash_password("same", fast);
  EXPECT_NE(a, b);
  // Different salts, not just different tags.
  EXPECT_NE(a.substr(0, a.rfind('$')), b.substr(0, b.rfind('$')));
  EXPECT_TRUE(verify_password("same", a));
  EXPECT_TRUE(verify_password("same", b));
}

TEST(HashPassword, BadParamsThrow) {
  EXPECT_THROW(hash_password("x", {.memory_kib = 1, .iterations = 1, .parallelism = 1}), std::runtime_error);
  EXPECT_THROW(hash_password("x", {.memory_kib = 1024, .iterations = 0, .parallelism = 1}), std::runtime_error);
  EXPECT_THROW(hash_password("x", {.memory_kib = 1024, .iterations = 1, .parallelism = 0}), std::runtime_error);
}

TEST(VerifyPassword, RightAndWrongPasswords) {
  const std::string phc = hash_password("correct horse", fast);
  EXPECT_TRUE(verify_password("correct horse", phc));
  EXPECT_FALSE(verify_password("correct horse ", phc));
  EXPECT_FALSE(verify_password("correct hors", phc));
  EXPECT_FALSE(verify_password("Correct horse", phc));
  EXPECT_FALSE(verify_password("", phc));
}

TEST(VerifyPassword, EmptyAndBinaryPasswords) {
  const std::string empty = hash_password(std::string_view{}, fast);
  EXPECT_TRUE(verify_password("", empty));
  EXPECT_FALSE(verify_password("x", empty));

  // The whole string_view counts, embedded NUL and UTF-8 included.
  const std::string binary("pä\0ss", 6);
  const std::string phc = hash_password(binary, fast);
  EXPECT_TRUE(verify_password(binary, phc));
  EXPECT_FALSE(verify_password("pä", phc));
}

TEST(VerifyPassword, RejectsGarbage) {
  const std::string phc = hash_password("pw", fast);
  std::string flipped = phc;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  const std::string cases[] = {
      "",
      "pw",
      "$argon2id$",
      "$argon2id$v=19$m=1024,t=1,p=1$garbage",
      "$argon2id$v=19$m=1024,t=1,p=1$$",
      phc.substr(0, phc.size() - 4),       // truncated tag
      flipped,                             // altered tag
      phc + "AAAA",                        // longer tag
      phc.substr(1),                       // no leading "$"
      std::string(phc).insert(10, 1, '\0'),  // NUL inside
  };
  for (const std::string& bad : cases) {
    EXPECT_FALSE(verify_password("pw", bad)) << bad;
  }
}

// Only Argon2id: argon2i and argon2d hashes of the right password, which
// argon2_verify itself would accept, are refused.
TEST(VerifyPassword, RejectsOtherArgon2Variants) {
  const unsigned char salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  char i_hash[128];
  char d_hash[128];
  ASSERT_EQ(argon2i_hash_encoded(1, 1024, 1, "pw", 2, salt, sizeof salt, 32, i_hash, sizeof i_hash), ARGON2_OK);
  ASSERT_EQ(argon2d_hash_encoded(1, 1024, 1, "pw", 2, salt, sizeof salt, 32, d_hash, sizeof d_hash), ARGON2_OK);
  ASSERT_EQ(argon2_verify(i_hash, "pw", 2, Argon2_i), ARGON2_OK);
  EXPECT_FALSE(verify_password("pw", i_hash));
  EXPECT_FALSE(verify_password("pw", d_hash));
}

}  // namespace
}  // namespace aviary
