// route.hpp - where mail for a domain goes next: relay.routes, then
// relay.smarthost, then the domain's MX hosts (RFC 5321 §5.1).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"

namespace aviary::relay {

struct NextHop {
  bool via_mx = false;  // true: look up the MX records of `domain`
  std::string domain;   // the recipient domain
  Endpoint endpoint;    // the fixed next hop when !via_mx
  // Deliveries with the same key share connections and connection limits.
  std::string key() const { return via_mx ? domain : "[" + endpoint.to_string() + "]"; }
};

NextHop route_for(const Config::Relay& relay, std::string_view domain);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // "" is the root: RFC 7505 null MX
};

struct MxHosts {
  bool null_mx = false;  // the domain accepts no mail at all
  std::vector<std::string> hosts;  // in the order to try them
};

// Lowest preference first; equal preferences in random order (§5.1). A
// lone root target is a null MX; a root target beside real ones is ignored.
MxHosts order_mx(std::vector<MxRecord> records, std::mt19937& random);

}  // namespace aviary::relay
