// password.hpp - Argon2id password hashes as PHC strings.
//
// Only hashes are ever stored. Verification costs tens of milliseconds by
// design, so daemons call verify_password from a worker pool, never from an
// I/O thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aviary {

// OWASP's minimum for Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
struct PasswordParams {
  std::uint32_t memory_kib = 19 * 1024;
  std::uint32_t iterations = 2;
  std::uint32_t parallelism = 1;
};

// "$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>" with a fresh random salt.
// Throws std::runtime_error if Argon2 itself fails (bad parameters, no memory).
std::string hash_password(std::string_view password, const PasswordParams& params);

// True only if `phc` is a well-formed Argon2id PHC string matching `password`.
bool verify_password(std::string_view password, std::string_view phc);

}  // namespace aviary
