// dns.hpp - MX and address lookups with libunbound, and from a next hop to
// the list of addresses to try. Lookups block: callers run them on a pool,
// never on an I/O thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "relay/route.hpp"

struct ub_ctx;

namespace aviary::relay {

struct DnsAnswer {
  enum class Status { ok, no_domain, no_data, temporary };
  Status status = Status::temporary;
  std::vector<MxRecord> mx;
  std::size_t malformed = 0;           // MX records left out: not a host name
  std::vector<std::string> addresses;  // IP literals
  std::string error;                   // for temporary
};

class Resolver {
 public:
  // `server` nullopt: the system's resolvers (/etc/resolv.conf, /etc/hosts).
  explicit Resolver(const std::optional<Endpoint>& server);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  DnsAnswer mx(const std::string& domain);
  // A and AAAA records together (A first).
  DnsAnswer addresses(const std::string& host);

 private:
  DnsAnswer query(const std::string& name, int type);
  ub_ctx* ctx_;
};

struct Target {
  std::string host;  // the MX or next-hop name, for logs and Remote-MTA
  std::string ip;
  std::uint16_t port = 25;
};

struct Targets {
  enum class Status { ok, temporary, permanent };
  Status status = Status::ok;
  std::vector<Target> list;  // in the order to try
  std::string status_code;   // RFC 3463 code of the failure
  std::string error;
};

// At most this many addresses are tried per delivery (like Postfix's
// smtp_mx_address_limit).
inline constexpr std::size_t max_targets = 10;

Targets find_targets(Resolver& resolver, const NextHop& hop, std::uint16_t smtp_port, std::mt19937& random);

}  // namespace aviary::relay
