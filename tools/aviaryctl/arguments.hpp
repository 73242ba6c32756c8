// arguments.hpp - turning command-line words into canonical names.
//
// Every name is normalised here, before it reaches the store, so that
// "Alice@EXAMPLE.test" and "alice@example.test" are the same user. A bad
// word is an error (exit 1) that quotes it, not a usage error (exit 2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/address.hpp"
#include "common/result.hpp"
#include "storage/store.hpp"

namespace aviary::ctl {

// Each throws CommandError naming the argument and what is wrong with it.
Address address_arg(std::string_view text);
std::string domain_arg(std::string_view text);
// An alias source: an address, or "@domain" for the domain's catch-all
// (an Address with an empty local part, as the store wants).
Address alias_source_arg(std::string_view text);
// A size such as "1GiB" or "1048576", or "none" for no quota (0).
std::uint64_t quota_arg(std::string_view text);

// How a source is shown: "@domain" for a catch-all, else the address key.
std::string source_text(const Address& source);

// not_found "unknown domain X" unless the domain is hosted.
Status require_hosted(storage::Store& store, const std::string& domain);

}  // namespace aviary::ctl
