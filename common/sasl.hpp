// sasl.hpp - the SASL mechanisms Aviary offers: PLAIN (RFC 4616) and LOGIN.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aviary {

// Strict RFC 4648 base64; nullopt on any bad character or padding.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

struct Credentials {
  std::string authzid;  // usually empty; must equal authcid when given
  std::string user;
  std::string password;
};

// RFC 4616: base64("authzid NUL authcid NUL passwd").
std::optional<Credentials> decode_plain(std::string_view base64);

}  // namespace aviary
