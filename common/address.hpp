// address.hpp - mailbox and domain parsing per RFC 5321 §4.1.2 and RFC 6531.
//
// Every address that enters Aviary (aviaryctl arguments, SMTP paths, POP3
// logins) goes through parse_address, so that lookups compare canonical
// forms: domains as lowercase A-labels (IDN in UTF-8 or A-labels are the same
// domain), local parts with ASCII case folded.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace aviary {

struct Address {
  std::string local;   // unquoted form: quotes and quoted-pairs removed; may be UTF-8
  std::string domain;  // canonical: lowercase A-labels, or an address literal "[...]"

  // The lookup key: ASCII-folded local part, "@", canonical domain.
  std::string key() const;
  // The form to write on the wire: local part quoted when it is not a dot-atom.
  std::string to_string() const;
  // True when the local part needs SMTPUTF8 (non-ASCII octets).
  bool needs_smtputf8() const;
};

// RFC 5321 §4.5.3.1 size limits.
inline constexpr std::size_t max_local_part_octets = 64;
inline constexpr std::size_t max_domain_octets = 255;
inline constexpr std::size_t max_path_octets = 256;

// Whether every octet is 7-bit ASCII (what needs SMTPUTF8 or 8BITMIME is the rest).
bool is_ascii(std::string_view text);

// "Local-part@Domain" without angle brackets. Accepts dot-atoms, quoted
// strings, UTF-8 local parts (RFC 6531) and domains in UTF-8 or A-labels.
Result<Address> parse_address(std::string_view text);

// A domain name in UTF-8 or A-labels to its canonical lowercase A-label form.
// An address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") is checked and
// returned as given.
Result<std::string> normalize_domain(std::string_view domain);

// A plausible ASCII domain name: LDH labels of 1-63 octets, 253 octets in
// all, a last label that is not all digits (so "1.2.3" is not a name).
bool is_domain_name(std::string_view name);

// The length of the well-formed multi-octet UTF-8 sequence at s[pos], 0 if
// there is none (ASCII octets are 0 too).
std::size_t utf8_length(std::string_view s, std::size_t pos);

// The local part with ASCII letters lowercased (non-ASCII octets untouched).
std::string fold_local(std::string_view local);

}  // namespace aviary
