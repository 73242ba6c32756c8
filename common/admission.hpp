// admission.hpp - the listeners' policies, as pure functions: which clients
// count as one for the per-IP limit, when a session pool is under stress,
// and what an accept() error means for the listener.
//
// No Asio here: the unit tests call these directly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace aviary::admission {

// The key under which max_connections_per_ip counts a client: an IPv4
// address as it is, an IPv6 address by its /64 ("2001:db8:1:2::/64"). One
// IPv6 host usually holds a whole /64 (RFC 4291 §2.5.1, SLAAC, privacy
// addresses), so counting single addresses would let it open 2^64 sessions.
// IPv4-mapped IPv6 addresses count as the IPv4 address. Text that is not an
// IP address comes back unchanged.
std::string client_key(std::string_view ip);

// Postfix's stress mode: a pool at or above this share of its limit gives
// new reads the shorter stress timeout, so that idle or slow clients make
// room for new ones before the pool is full.
inline constexpr unsigned stress_percent = 80;
bool under_stress(std::uint32_t active, std::uint32_t limit);

// What the accept loop does after accept() failed.
enum class AcceptAction {
  retry,     // that one connection failed (ECONNABORTED, EPROTO, ...): go on
  back_off,  // out of descriptors or memory: wait a little, then go on
  stop,      // the listening socket was closed (shutdown)
};
AcceptAction on_accept_error(std::error_code ec);

}  // namespace aviary::admission
