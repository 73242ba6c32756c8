// address.cpp - parsing and canonical forms of mailboxes and domains.
#include "common/address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <idn2.h>
#include <memory>
#include <vector>

#include "common/text.hpp"

namespace aviary {
namespace {

// The UTS #46 processing that RFC 5891 §5 lookups expect: NFC input, and
// nontransitional so that "ß" stays "ß" (xn--zca) instead of becoming "ss".
constexpr int idn2_flags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;

constexpr std::size_t max_label_octets = 63;  // RFC 1035 §2.3.4, RFC 5890 §2.3.2.1

using IdnString = std::unique_ptr<char, decltype(&idn2_free)>;

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// atext - RFC 5322 §3.2.3, ASCII part: letters, digits and these symbols.
bool is_atext_ascii(unsigned char c) {
  constexpr std::string_view symbols = "!#$%&'*+-/=?^_`{|}~";
  return is_alpha(c) || is_digit(c) || symbols.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

// RFC 3629 §4: no overlong forms (C0, C1, E0 80-9F, F0 80-8F), no
// surrogates (ED A0-BF), nothing above U+10FFFF (F4 90-BF, F5-FF).
std::size_t utf8_length(std::string_view s, std::size_t pos) {
  auto at = [&](std::size_t i) -> unsigned char { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0; };
  auto tail = [](unsigned char c) { return (c & 0xC0) == 0x80; };
  const unsigned char b0 = at(pos);
  const unsigned char b1 = at(pos + 1);
  if (b0 >= 0xC2 && b0 <= 0xDF) return tail(b1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    return b1 >= lo && b1 <= hi && tail(at(pos + 2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return b1 >= lo && b1 <= hi && tail(at(pos + 2)) && tail(at(pos + 3)) ? 4 : 0;
  }
  return 0;
}

bool is_domain_name(std::string_view name) {
  // RFC 1035 §2.3.4 and RFC 1123 §2.1 (labels may start with a digit).
  if (name.empty() || name.size() > 253) return false;
  std::string_view label;
  while (true) {
    auto dot = name.find('.');
    label = name.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char ch : label) {
      bool ldh = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
      if (!ldh) return false;
    }
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  // RFC 3696 §2: a top-level domain is never all digits, so "10.1.2" is a
  // mistyped address, not a name.
  return !std::all_of(label.begin(), label.end(), [](char c) { return is_digit(static_cast<unsigned char>(c)); });
}

namespace {

// check_utf8_non_ascii - RFC 6531 §3.3 lets UTF8-non-ascii into atext and
// qtextSMTP. Returns the sequence length, or 0 after setting `why`.
// C1 controls (U+0080-U+009F) are well-formed but refused: no mailbox needs
// them, and some (U+009B CSI) drive terminals that display our logs.
std::size_t check_utf8_non_ascii(std::string_view s, std::size_t pos, std::string& why) {
  const std::size_t n = utf8_length(s, pos);
  if (n == 0) {
    why = "invalid UTF-8 in local part";
  } else if (n == 2 && static_cast<unsigned char>(s[pos]) == 0xC2 &&
             static_cast<unsigned char>(s[pos + 1]) < 0xA0) {
    why = "invalid character in local part";
    return 0;
  }
  return n;
}

// dot_string_problem - why `s` is not a Dot-string (RFC 5321 §4.1.2:
// Atom *("." Atom)), or "" if it is one.
std::string dot_string_problem(std::string_view s) {
  if (s.empty()) return "empty local part";
  std::string why;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (i == 0) return "local part begins with a dot";
      if (i + 1 == s.size()) return "local part ends with a dot";
      if (s[i + 1] == '.') return "consecutive dots in local part";
    } else if (c >= 0x80) {
      const std::size_t n = check_utf8_non_ascii(s, i, why);
      if (n == 0) return why;
      i += n - 1;
    } else if (!is_atext_ascii(c)) {
      return "invalid character in local part";
    }
  }
  return "";
}

// unquote - the content of a Quoted-string (RFC 5321 §4.1.2), `s` including
// both quotes. qtextSMTP is %d32-33 / %d35-91 / %d93-126 plus UTF-8 (RFC 6531
// §3.3); quoted-pairSMTP is "\" followed by %d32-126, ASCII only.
Result<std::string> unquote(std::string_view s) {
  std::string out;
  std::string why;
  const std::size_t end = s.size() - 1;  // the closing quote
  for (std::size_t i = 1; i < end; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      // i + 1 < end: closing_quote skipped the octet after each backslash.
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next < 32 || next > 126) return make_error(Errc::invalid, "invalid quoted-pair in local part");
      out += static_cast<char>(next);
      ++i;
    } else if (c >= 32 && c <= 126 && c != '"') {
      out += static_cast<char>(c);
    } else if (c >= 0x80) {
      const std::size_t n = check_utf8_non_ascii(s, i, why);
      if (n == 0) return make_error(Errc::invalid, why);
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      return make_error(Errc::invalid, "invalid character in local part");
    }
  }
  if (out.empty()) return make_error(Errc::invalid, "empty local part");
  return out;
}

// closing_quote - index of the quote that ends the Quoted-string opening at
// s[0], skipping quoted-pairs; npos if it never ends.
std::size_t closing_quote(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

// address_literal_problem - RFC 5321 §4.1.3: IPv4-address-literal or
// "IPv6:" IPv6-addr. General-address-literal tags are not registered for
// anything we could deliver to, so they are refused.
std::string address_literal_problem(std::string_view literal) {
  if (literal.size() < 2 || literal.back() != ']') return "unterminated address literal";
  std::string_view inner = literal.substr(1, literal.size() - 2);
  int family = AF_INET;
  // ABNF strings are case-insensitive (RFC 5234 §2.3), so "ipv6:" counts too.
  if (inner.size() >= 5 && to_lower(inner.substr(0, 5)) == "ipv6:") {
    family = AF_INET6;
    inner.remove_prefix(5);
  }
  // Only hex digits, dots and colons can be in either form; this also keeps
  // NULs away from inet_pton, which would stop reading at them.
  for (unsigned char c : inner) {
    const bool hex = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != '.' && c != ':') return "invalid address literal";
  }
  unsigned char buf[16];
  if (inet_pton(family, std::string(inner).c_str(), buf) != 1) return "invalid address literal";
  return "";
}

// ldh_problem - why an ASCII label is not a hostname label (RFC 1123 §2.1,
// RFC 5321 §4.1.2 sub-domain: Let-dig [Ldh-str]), or "" if it is one.
std::string ldh_problem(std::string_view label) {
  if (label.empty()) return "empty label";
  if (label.size() > max_label_octets) return "label longer than 63 octets";
  for (unsigned char c : label) {
    if (!is_alpha(c) && !is_digit(c) && c != '-') return "invalid character";
  }
  if (label.front() == '-' || label.back() == '-') return "label begins or ends with a hyphen";
  return "";
}

// label_to_ascii - one label to its lowercase A-label or LDH form.
Result<std::string> label_to_ascii(std::string_view label) {
  auto fail = [](std::string why) { return make_error(Errc::invalid, "invalid domain: " + why); };
  if (label.empty()) return fail("empty label");
  if (is_ascii(label)) {
    std::string lower = to_lower(label);
    if (std::string why = ldh_problem(lower); !why.empty()) return fail(why);
    // RFC 5890 §2.3.2.1: an "xn--" label must be a real A-label, i.e. the
    // encoding of a valid U-label. libidn2 2.3 checks that itself (refusing
    // bad Punycode, unnormalized or disallowed text); also requiring the
    // label back unchanged guards against a libidn2 that passes it through.
    if (lower.starts_with("xn--")) {
      char* raw = nullptr;
      const int rc = idn2_to_ascii_8z(lower.c_str(), &raw, idn2_flags);
      IdnString out(raw, &idn2_free);
      if (rc != IDN2_OK || lower != out.get()) return fail("invalid A-label");
    }
    // Other labels with "--" in positions 3-4 are reserved (RFC 5891
    // §4.2.3.1) but still exist as plain hostnames, so they are accepted.
    return lower;
  }
  // A U-label. Its ASCII octets can only be LDH (uppercase is mapped to
  // lowercase below); checking them here keeps NULs away from libidn2.
  for (std::size_t i = 0; i < label.size(); ++i) {
    const auto c = static_cast<unsigned char>(label[i]);
    if (c < 0x80) {
      if (!is_alpha(c) && !is_digit(c) && c != '-') return fail("invalid character");
      continue;
    }
    const std::size_t n = utf8_length(label, i);
    if (n == 0) return fail("invalid UTF-8");
    i += n - 1;
  }
  // RFC 5891 §5.2-5.5 via UTS #46 mapping: case folding, NFC, validity, Punycode.
  char* raw = nullptr;
  const int rc = idn2_to_ascii_8z(std::string(label).c_str(), &raw, idn2_flags);
  IdnString out(raw, &idn2_free);
  if (rc != IDN2_OK) return fail(idn2_strerror(rc));
  // UTS #46 maps some characters to ASCII punctuation (U+2488 to "1."), so the
  // result is checked as a hostname label like any other.
  std::string ascii = to_lower(out.get());
  if (std::string why = ldh_problem(ascii); !why.empty()) return fail(why);
  return ascii;
}

// split_labels - labels separated by "." or by the full stops that IDNA also
// treats as separators (RFC 3490 §3.1): U+3002, U+FF0E, U+FF61.
std::vector<std::string_view> split_labels(std::string_view domain) {
  static constexpr std::string_view wide_dots[] = {"\xE3\x80\x82", "\xEF\xBC\x8E", "\xEF\xBD\xA1"};
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < domain.size()) {
    std::size_t dot = domain[i] == '.' ? 1 : 0;
    for (std::string_view wide : wide_dots) {
      if (domain.substr(i).starts_with(wide)) dot = wide.size();
    }
    if (dot == 0) {
      ++i;
      continue;
    }
    labels.push_back(domain.substr(start, i - start));
    i += dot;
    start = i;
  }
  labels.push_back(domain.substr(start));
  return labels;
}

}  // namespace

std::string fold_local(std::string_view local) { return to_lower(local); }

Result<std::string> normalize_domain(std::string_view domain) {
  const std::string too_long = "invalid domain: longer than " + std::to_string(max_domain_octets) + " octets";
  if (domain.empty()) return make_error(Errc::invalid, "invalid domain: empty");
  if (domain.size() > max_domain_octets + 1) return make_error(Errc::invalid, too_long);

  if (domain.front() == '[') {
    if (std::string why = address_literal_problem(domain); !why.empty()) {
      return make_error(Errc::invalid, "invalid domain: " + why);
    }
    return std::string(domain);
  }

  std::vector<std::string_view> labels = split_labels(domain);
  // A trailing dot names the DNS root (RFC 1034 §3.1); the name is the same.
  if (labels.size() > 1 && labels.back().empty()) labels.pop_back();

  std::string canonical;
  for (std::string_view label : labels) {
    Result<std::string> ascii = label_to_ascii(label);
    if (!ascii) return ascii.error();
    if (!canonical.empty()) canonical += '.';
    canonical += *ascii;
  }
  // RFC 5321 §4.5.3.1.2, applied to the canonical form: A-labels can be
  // longer than the UTF-8 they encode. The input was bounded above.
  if (canonical.size() > max_domain_octets) return make_error(Errc::invalid, too_long);
  return canonical;
}

Result<Address> parse_address(std::string_view text) {
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets.
  const std::size_t max_mailbox = max_path_octets - 2;
  const std::string too_long = "address longer than " + std::to_string(max_mailbox) + " octets";
  if (text.size() > max_mailbox) return make_error(Errc::invalid, too_long);

  // The local part ends at the last "@" outside quotes. Quotes can only open
  // at the start (a Quoted-string is a whole local part), so that "@" is the
  // last one after the closing quote.
  std::size_t local_end = 0;
  if (text.starts_with('"')) {
    local_end = closing_quote(text);
    if (local_end == std::string_view::npos) return make_error(Errc::invalid, "unterminated quoted string");
    ++local_end;
  }
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at < local_end) return make_error(Errc::invalid, "missing @");
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);

  // RFC 5321 §4.5.3.1.1, measured on the local part as it was written.
  if (local.empty()) return make_error(Errc::invalid, "empty local part");
  if (local.size() > max_local_part_octets) {
    return make_error(Errc::invalid, "local part longer than " + std::to_string(max_local_part_octets) + " octets");
  }

  Address address;
  if (local_end > 0) {
    if (local_end != local.size()) return make_error(Errc::invalid, "invalid character in local part");
    Result<std::string> unquoted = unquote(local);
    if (!unquoted) return unquoted.error();
    address.local = std::move(*unquoted);
  } else {
    if (std::string why = dot_string_problem(local); !why.empty()) return make_error(Errc::invalid, why);
    address.local = std::string(local);
  }

  if (domain.empty()) return make_error(Errc::invalid, "empty domain");
  Result<std::string> canonical = normalize_domain(domain);
  if (!canonical) return canonical.error();
  address.domain = std::move(*canonical);

  if (address.to_string().size() > max_mailbox) return make_error(Errc::invalid, too_long);
  return address;
}

std::string Address::key() const { return fold_local(local) + "@" + domain; }

std::string Address::to_string() const {
  // RFC 5321 §4.1.2: "a Quoted-string should be used only if the local-part
  // cannot be represented as a Dot-string" - the one spelling that is sent.
  if (dot_string_problem(local).empty()) return local + "@" + domain;
  std::string out = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"@";
  out += domain;
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool Address::needs_smtputf8() const { return !is_ascii(local); }

}  // namespace aviary
