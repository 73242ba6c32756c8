// dns.cpp - see dns.hpp (RFC 5321 §5.1, RFC 7505 null MX).
#include "relay/dns.hpp"

#include <arpa/inet.h>
#include <unbound.h>

#include <stdexcept>

#include "common/log.hpp"
#include "relay/host_name.hpp"

namespace aviary::relay {
namespace {

constexpr int type_a = 1, type_mx = 15, type_aaaa = 28, class_in = 1;
constexpr int rcode_servfail = 2, rcode_nxdomain = 3;

void check(int err, const char* what) {
  if (err != 0) throw std::runtime_error(std::string("relay.dns: ") + what + ": " + ub_strerror(err));
}

}  // namespace

Resolver::Resolver(const std::optional<Endpoint>& server) : ctx_(ub_ctx_create()) {
  if (!ctx_) throw std::runtime_error("relay.dns: cannot create a resolver");
  // Loopback resolvers are normal here (dnsmasq, systemd-resolved, a local
  // unbound); libunbound refuses them by default.
  check(ub_ctx_set_option(ctx_, "do-not-query-localhost:", "no"), "options");
  if (server) {
    std::string where = server->host + "@" + std::to_string(server->port);
    check(ub_ctx_set_fwd(ctx_, where.c_str()), "forwarder");
  } else {
    check(ub_ctx_resolvconf(ctx_, "/etc/resolv.conf"), "/etc/resolv.conf");
    check(ub_ctx_hosts(ctx_, "/etc/hosts"), "/etc/hosts");
  }
  // libunbound answers the RFC 6761 name "test." itself (NXDOMAIN); the
  // resolver we ask may well serve it (test set-ups do). This call
  // finalizes the context, so it comes last.
  check(ub_ctx_zone_add(ctx_, "test.", "transparent"), "local zone test.");
}

Resolver::~Resolver() { ub_ctx_delete(ctx_); }

DnsAnswer Resolver::query(const std::string& name, int type) {
  DnsAnswer answer;
  ub_result* result = nullptr;
  int err = ub_resolve(ctx_, name.c_str(), type, class_in, &result);
  if (err != 0) {
    answer.error = std::string("DNS error for ") + name + ": " + ub_strerror(err);
    return answer;
  }
  std::unique_ptr<ub_result, void (*)(ub_result*)> guard(result, ub_resolve_free);
  if (result->bogus) {
    answer.error = "DNSSEC validation failed for " + name;
  } else if (result->rcode == rcode_nxdomain || result->nxdomain) {
    answer.status = DnsAnswer::Status::no_domain;
  } else if (result->rcode == rcode_servfail || result->rcode != 0) {
    answer.error = "DNS server failure for " + name + " (rcode " + std::to_string(result->rcode) + ")";
  } else if (!result->havedata) {
    answer.status = DnsAnswer::Status::no_data;
  } else {
    answer.status = DnsAnswer::Status::ok;
    for (int i = 0; result->data[i]; ++i) {
      auto* p = reinterpret_cast<const unsigned char*>(result->data[i]);
      auto len = static_cast<std::size_t>(result->len[i]);
      if (type == type_mx && len >= 3) {
        // Only LDH host names: the name goes into logs, Remote-MTA and the
        // bounce text, and a label may hold any octet, CR LF included.
        auto host = host_name_from_wire(p + 2, len - 2);
        if (host) answer.mx.push_back({static_cast<std::uint16_t>(p[0] << 8 | p[1]), *host});
        else ++answer.malformed;
      } else if (type == type_mx) {
        ++answer.malformed;
      } else if ((type == type_a && len == 4) || (type == type_aaaa && len == 16)) {
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(type == type_a ? AF_INET : AF_INET6, p, text, sizeof text)) answer.addresses.emplace_back(text);
      }
    }
  }
  return answer;
}

DnsAnswer Resolver::mx(const std::string& domain) { return query(domain, type_mx); }

DnsAnswer Resolver::addresses(const std::string& host) {
  DnsAnswer v4 = query(host, type_a);
  DnsAnswer v6 = query(host, type_aaaa);
  if (v4.status == DnsAnswer::Status::ok || v6.status == DnsAnswer::Status::ok) {
    DnsAnswer both;
    both.status = DnsAnswer::Status::ok;
    both.addresses = std::move(v4.addresses);
    both.addresses.insert(both.addresses.end(), v6.addresses.begin(), v6.addresses.end());
    return both;
  }
  if (v4.status == DnsAnswer::Status::temporary) return v4;
  if (v6.status == DnsAnswer::Status::temporary) return v6;
  return v4;  // no_domain or no_data
}

Targets find_targets(Resolver& resolver, const NextHop& hop, std::uint16_t smtp_port, std::mt19937& random) {
  Targets out;
  auto fail = [&out](Targets::Status status, std::string code, std::string error) {
    out.status = status;
    out.status_code = std::move(code);
    out.error = std::move(error);
    return out;
  };
  std::vector<std::string> hosts;
  std::uint16_t port = smtp_port;
  if (!hop.via_mx) {
    port = hop.endpoint.port;
    in6_addr ignored;
    if (inet_pton(AF_INET, hop.endpoint.host.c_str(), &ignored) == 1 ||
        inet_pton(AF_INET6, hop.endpoint.host.c_str(), &ignored) == 1) {
      out.list.push_back({hop.endpoint.host, hop.endpoint.host, port});
      return out;
    }
    // Route data is checked like DNS data: a host name or an IP address.
    if (!is_host_name(hop.endpoint.host))
      return fail(Targets::Status::temporary, "4.4.3", "the next hop for " + hop.domain + " is not a valid host name");
    hosts.push_back(hop.endpoint.host);
  } else {
    DnsAnswer mx = resolver.mx(hop.domain);
    switch (mx.status) {
      case DnsAnswer::Status::temporary:
        return fail(Targets::Status::temporary, "4.4.3", mx.error);
      case DnsAnswer::Status::no_domain:
        return fail(Targets::Status::permanent, "5.1.2", "Host or domain name not found: " + hop.domain);
      case DnsAnswer::Status::no_data:
        hosts.push_back(hop.domain);  // RFC 5321 §5.1: the implicit MX
        break;
      case DnsAnswer::Status::ok: {
        if (mx.mx.empty() && mx.malformed > 0) {
          // Only unusable names: a DNS mistake that may be fixed, not a
          // reason to bounce at once (the bounce comes after max_queue_time).
          log::warning("relay: every MX host name of ", hop.domain, " is malformed");
          return fail(Targets::Status::temporary, "4.4.3", "malformed MX host names for " + hop.domain);
        }
        if (mx.malformed > 0) log::warning("relay: ignoring ", mx.malformed, " malformed MX host name(s) of ", hop.domain);
        MxHosts ordered = order_mx(std::move(mx.mx), random);
        if (ordered.null_mx)
          return fail(Targets::Status::permanent, "5.1.10", "Domain " + hop.domain + " does not accept mail (null MX)");
        hosts = std::move(ordered.hosts);
        break;
      }
    }
  }
  bool temporary = false;
  std::string last_error;
  for (const auto& host : hosts) {
    if (out.list.size() >= max_targets) break;
    DnsAnswer a = resolver.addresses(host);
    if (a.status == DnsAnswer::Status::temporary) {
      temporary = true;
      last_error = a.error;
    } else if (a.status != DnsAnswer::Status::ok) {
      last_error = "Host not found: " + host;
    }
    for (auto& ip : a.addresses) {
      if (out.list.size() >= max_targets) break;
      out.list.push_back({host, ip, port});
    }
  }
  if (!out.list.empty()) return out;
  // A configured next hop that does not resolve is our problem, not the sender's.
  if (temporary || !hop.via_mx) return fail(Targets::Status::temporary, "4.4.3", last_error);
  return fail(Targets::Status::permanent, "5.4.4", last_error.empty() ? "No address for " + hop.domain : last_error);
}

}  // namespace aviary::relay
