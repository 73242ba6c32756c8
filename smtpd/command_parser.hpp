// command_parser.hpp - SMTP command lines, paths and parameters (RFC 5321 §4.1).
//
// Pure parsing: no state, no I/O, so that unit tests and the fuzzer can
// drive it directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/address.hpp"
#include "common/result.hpp"

namespace aviary::smtpd {

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF.
inline constexpr std::size_t max_command_line = 512;

struct CommandLine {
  std::string verb;  // upper case
  std::string args;  // the rest, without the separating space
};

// Splits "mail FROM:<a@b> SIZE=10" into {"MAIL", "FROM:<a@b> SIZE=10"}.
CommandLine split_command(std::string_view line);

struct Parameter {
  std::string keyword;  // upper case
  std::optional<std::string> value;
};

struct PathArgument {
  std::optional<Address> address;  // nullopt = the null path "<>"
  std::string text;                // as written between the brackets
  std::vector<Parameter> parameters;
};

// "FROM:<path> params" / "TO:<path> params". `prefix` is "FROM:" or "TO:".
// Accepts a space after the colon and strips a source route (§4.1.2, C.).
// A bare "<postmaster>" is returned with an empty domain for the caller.
Result<PathArgument> parse_path_argument(std::string_view args, std::string_view prefix, bool allow_null);

// RFC 1870 §3: size-value ::= 1*20DIGIT. A value too big for 64 bits is
// still a valid size (larger than any limit): it saturates at UINT64_MAX.
// nullopt for anything else (empty, non-digits, more than 20 digits).
std::optional<std::uint64_t> parse_size_value(std::string_view text);

// RFC 5321 §4.1.1.1: the HELO/EHLO argument is a Domain or an
// address-literal (checked as §4.1.2 and §4.1.3 say, ASCII only).
bool valid_helo(std::string_view name);

// The HELO/EHLO name as it may be written into a Received field or a reply:
// a valid one as is; anything else (8-bit bytes, "(", ")", "_", ...) kept but
// as an RFC 5322 quoted-string: '"', '\', '(' and ')' as quoted-pairs, and
// octets outside printable ASCII as \xHH, so that it can neither open a
// comment nor carry 8-bit text into the header.
std::string helo_for_trace(std::string_view name);

}  // namespace aviary::smtpd
