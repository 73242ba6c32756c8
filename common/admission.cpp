// admission.cpp - see admission.hpp.
#include "common/admission.hpp"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

namespace aviary::admission {

std::string client_key(std::string_view ip) {
  if (ip.find(':') == std::string_view::npos) return std::string(ip);
  std::string text(ip.substr(0, ip.find('%')));  // a zone ("fe80::1%eth0") names no other host
  in6_addr address{};
  if (::inet_pton(AF_INET6, text.c_str(), &address) != 1) return std::string(ip);
  // ::ffff:a.b.c.d is an IPv4 client reached over a dual-stack socket.
  if (IN6_IS_ADDR_V4MAPPED(&address)) {
    char v4[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, address.s6_addr + 12, v4, sizeof v4);
    return v4;
  }
  std::memset(address.s6_addr + 8, 0, 8);
  char prefix[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, &address, prefix, sizeof prefix);
  return std::string(prefix) + "/64";
}

bool under_stress(std::uint32_t active, std::uint32_t limit) {
  return std::uint64_t{active} * 100 >= std::uint64_t{limit} * stress_percent;
}

AcceptAction on_accept_error(std::error_code ec) {
  // The acceptor was closed under the pending accept: the daemon is stopping.
  if (ec == std::errc::operation_canceled || ec == std::errc::bad_file_descriptor) return AcceptAction::stop;
  // Out of descriptors or kernel memory: the pending connection stays in the
  // backlog and the socket stays readable, so trying again at once would
  // spin. A short pause lets sessions end and free what is missing.
  if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
      ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory) {
    return AcceptAction::back_off;
  }
  // accept(2), Linux notes: errors of the one pending connection (it was
  // reset or aborted before we took it, or a firewall refused it) are to be
  // treated like EAGAIN: the next connection is fine.
  if (ec == std::errc::connection_aborted || ec == std::errc::protocol_error || ec == std::errc::interrupted ||
      ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again ||
      ec == std::errc::operation_not_permitted || ec == std::errc::network_down ||
      ec == std::errc::network_unreachable || ec == std::errc::host_unreachable ||
      ec == std::errc::no_protocol_option || ec == std::errc::operation_not_supported ||
      ec == std::errc::connection_reset || ec == std::errc::timed_out) {
    return AcceptAction::retry;
  }
  if (ec.category() == std::system_category() && (ec.value() == EHOSTDOWN || ec.value() == ENONET)) {
    return AcceptAction::retry;
  }
  // Anything else: never give up the listener, never spin on it either.
  return AcceptAction::back_off;
}

}  // namespace aviary::admission
