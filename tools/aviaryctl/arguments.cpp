// arguments.cpp - command-line words to canonical names (see arguments.hpp).
#include "tools/aviaryctl/arguments.hpp"

#include "common/config.hpp"
#include "common/units.hpp"
#include "tools/aviaryctl/context.hpp"

namespace aviary::ctl {
namespace {

// quoted - the argument as the user typed it, so that stray blanks show.
std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

Address address_arg(std::string_view text) {
  auto address = parse_address(text);
  if (!address) fail("bad address " + quoted(text) + ": " + address.error().message);
  return std::move(address).value();
}

std::string domain_arg(std::string_view text) {
  auto domain = normalize_domain(text);
  if (!domain) fail("bad domain " + quoted(text) + ": " + domain.error().message);
  if (!is_domain_name(*domain)) fail("bad domain " + quoted(text) + ": not a domain name");
  return std::move(domain).value();
}

Address alias_source_arg(std::string_view text) {
  if (!text.empty() && text.front() == '@') return Address{"", domain_arg(text.substr(1))};
  return address_arg(text);
}

std::uint64_t quota_arg(std::string_view text) {
  if (text == "none") return 0;
  auto size = parse_size(text);
  if (!size) fail("bad quota " + quoted(text) + ": expected a size such as 512MiB or 1GiB, or none");
  return *size;
}

std::string source_text(const Address& source) {
  return source.local.empty() ? "@" + source.domain : source.key();
}

Status require_hosted(storage::Store& store, const std::string& domain) {
  if (store.is_hosted(domain)) return {};
  return Error{Errc::not_found, "unknown domain " + domain};
}

}  // namespace aviary::ctl
