// route.cpp - see route.hpp.
#include "relay/route.hpp"

#include <algorithm>

namespace aviary::relay {

NextHop route_for(const Config::Relay& relay, std::string_view domain) {
  NextHop hop;
  hop.domain = std::string(domain);
  std::transform(hop.domain.begin(), hop.domain.end(), hop.domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto it = relay.routes.find(hop.domain); it != relay.routes.end()) {
    // A route comes first, for an address literal too.
    hop.endpoint = it->second;
  } else if (hop.domain.starts_with('[') && hop.domain.ends_with(']')) {
    // An address literal (RFC 5321 §4.1.3) names the host itself.
    std::string ip = hop.domain.substr(1, hop.domain.size() - 2);
    if (ip.starts_with("ipv6:")) ip = ip.substr(5);
    hop.endpoint = {ip, relay.smtp_port};
  } else if (relay.smarthost) {
    hop.endpoint = *relay.smarthost;
  } else {
    hop.via_mx = true;
  }
  return hop;
}

MxHosts order_mx(std::vector<MxRecord> records, std::mt19937& random) {
  MxHosts out;
  auto removed = std::erase_if(records, [](const MxRecord& r) { return r.host.empty() || r.host == "."; });
  if (records.empty()) {
    out.null_mx = removed > 0;
    return out;
  }
  std::shuffle(records.begin(), records.end(), random);
  std::stable_sort(records.begin(), records.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  for (auto& r : records) {
    std::string host = r.host;
    if (host.ends_with('.')) host.pop_back();
    std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (std::find(out.hosts.begin(), out.hosts.end(), host) == out.hosts.end()) out.hosts.push_back(host);
  }
  return out;
}

}  // namespace aviary::relay
