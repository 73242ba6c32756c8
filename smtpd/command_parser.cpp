// command_parser.cpp - see command_parser.hpp.
#include "smtpd/command_parser.hpp"

#include "common/text.hpp"

namespace aviary::smtpd {
namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && to_upper(text.substr(0, prefix.size())) == prefix;
}

// RFC 5321 §4.1.2 esmtp-keyword: ALPHA / DIGIT, then also "-".
bool valid_keyword(std::string_view k) {
  if (k.empty()) return false;
  for (std::size_t i = 0; i < k.size(); ++i) {
    char c = k[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(i > 0 && c == '-')) return false;
  }
  return true;
}

// esmtp-value: any printable except "=" and SP (UTF-8 allowed by RFC 6531).
bool valid_value(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v) {
    if (c < 33 || c == '=' || c == 127) return false;
  }
  return true;
}

Error syntax(std::string message) { return Error{Errc::invalid, std::move(message)}; }

}  // namespace

CommandLine split_command(std::string_view line) {
  auto space = line.find(' ');
  CommandLine cmd;
  cmd.verb = to_upper(line.substr(0, space));
  if (space != std::string_view::npos) {
    std::string_view rest = line.substr(space + 1);
    cmd.args = std::string(rest);
  }
  return cmd;
}

Result<PathArgument> parse_path_argument(std::string_view args, std::string_view prefix, bool allow_null) {
  if (!iequals_prefix(args, prefix)) return syntax("expected " + std::string(prefix));
  std::string_view rest = args.substr(prefix.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);  // "FROM: <a>" is common
  if (rest.empty() || rest.front() != '<') return syntax("the address must be in <>");

  // Find the closing '>' outside a quoted local part.
  std::size_t close = std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 1; i < rest.size(); ++i) {
    char c = rest[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '>') {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return syntax("missing >");

  PathArgument out;
  std::string_view path = rest.substr(1, close - 1);
  out.text = std::string(path);
  // Source routes "@a,@b:user@c" are obsolete; RFC 5321 §4.1.2 says ignore them.
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos) return syntax("bad source route");
    path = path.substr(colon + 1);
    if (path.empty()) return syntax("a source route must lead to an address");
  }
  if (path.empty()) {
    if (!allow_null) return syntax("the null address is not allowed here");
  } else if (path.find('@') == std::string_view::npos) {
    // RFC 5321 §4.5.1: "<Postmaster>" without a domain must be accepted.
    if (to_upper(path) != "POSTMASTER") return syntax("address without a domain");
    out.address = Address{"postmaster", ""};
  } else {
    auto address = parse_address(path);
    if (!address) return syntax(address.error().message);
    out.address = std::move(address).value();
  }

  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return syntax("a space must follow >");
  while (!params.empty()) {
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    if (params.empty()) break;
    auto end = params.find(' ');
    std::string_view item = params.substr(0, end);
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
    auto eq = item.find('=');
    Parameter p;
    std::string_view keyword = item.substr(0, eq);
    if (!valid_keyword(keyword)) return syntax("bad parameter " + std::string(item));
    p.keyword = to_upper(keyword);
    if (eq != std::string_view::npos) {
      std::string_view value = item.substr(eq + 1);
      if (!valid_value(value)) return syntax("bad parameter value " + std::string(item));
      p.value = std::string(value);
    }
    out.parameters.push_back(std::move(p));
  }
  return out;
}

std::optional<std::uint64_t> parse_size_value(std::string_view text) {
  return parse_decimal(text, Overflow::saturate, 20);
}

namespace {

// sub-domain = Let-dig [Ldh-str] (§4.1.2), at most 63 octets (RFC 1035).
bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ldh) return false;
  }
  return true;
}

}  // namespace

bool valid_helo(std::string_view name) {
  if (name.empty() || name.size() > max_domain_octets) return false;
  if (name.front() == '[') return normalize_domain(name).ok();  // address literal, checked
  while (true) {
    auto dot = name.find('.');
    if (!valid_label(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

std::string helo_for_trace(std::string_view name) {
  if (valid_helo(name)) return std::string(name);
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '(' || c == ')') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace aviary::smtpd
