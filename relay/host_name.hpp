// host_name.hpp - which names the relay takes from DNS and route data: host
// names in the letters-digits-hyphen form of RFC 952 and RFC 1123 §2.1, and
// nothing else (no CR, LF, space, "[", 8-bit octets), so that a hostile
// DNS answer can neither steer a connection nor inject text into a bounce.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace aviary::relay {

// Labels of 1-63 letters, digits and hyphens, not starting or ending with a
// hyphen; at most 253 octets (a trailing dot, the root, is allowed); the
// last label not all digits (RFC 3696 §2), so "192.0.2.1" is no host name.
bool is_host_name(std::string_view name);

// A domain name in uncompressed wire format (as libunbound hands out MX
// rdata): the host name in lowercase without the trailing dot, "" for the
// root (RFC 7505 null MX), or nullopt when it is malformed or not a host
// name (a label holding a dot, CR, LF or any other octet).
std::optional<std::string> host_name_from_wire(const unsigned char* wire, std::size_t length);

}  // namespace aviary::relay
