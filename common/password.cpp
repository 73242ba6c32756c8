// password.cpp - Argon2id hashing and verification of user passwords.
#include "common/password.hpp"

#include <argon2.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace aviary {
namespace {

// RFC 9106 §3.1: a 128-bit salt is enough for password hashing; a 256-bit tag
// leaves no room for collisions.
constexpr std::size_t salt_octets = 16;
constexpr std::size_t hash_octets = 32;

// Only Argon2id is accepted: argon2i and argon2d strings would verify too if
// handed to argon2_verify, and nothing Aviary wrote ever looks like them.
constexpr std::string_view argon2id_prefix = "$argon2id$";

// fill_random - getrandom(2) may return fewer bytes than asked when a signal
// arrives, so read until the buffer is full.
void fill_random(unsigned char* buf, std::size_t len) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = getrandom(buf + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string hash_password(std::string_view password, const PasswordParams& params) {
  if (password.size() > ARGON2_MAX_PWD_LENGTH) throw std::runtime_error("argon2id: password too long");
  unsigned char salt[salt_octets];
  fill_random(salt, sizeof salt);

  std::string encoded(argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism, salt_octets,
                                        hash_octets, Argon2_id),
                      '\0');
  const int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism,
                                       password.data(), password.size(), salt, salt_octets, hash_octets,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(std::string("argon2id: ") + argon2_error_message(rc));
  // argon2_encodedlen counts the terminating NUL, and may overestimate.
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view password, std::string_view phc) {
  if (!phc.starts_with(argon2id_prefix)) return false;
  // argon2 reads a C string: an embedded NUL would silently cut the hash.
  if (phc.find('\0') != std::string_view::npos) return false;
  if (password.size() > ARGON2_MAX_PWD_LENGTH) return false;
  const std::string encoded(phc);
  // argon2_verify decodes the string (rejecting malformed ones) and compares
  // the tags in constant time.
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace aviary
