// host_name.cpp - see host_name.hpp.
#include "relay/host_name.hpp"

#include "common/address.hpp"

namespace aviary::relay {
constexpr std::size_t max_label = 63;  // RFC 1035 §2.3.4

bool is_host_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  return is_domain_name(name);
}

std::optional<std::string> host_name_from_wire(const unsigned char* wire, std::size_t length) {
  std::string name;
  std::size_t i = 0;
  while (i < length) {
    std::size_t label = wire[i++];
    if (label == 0) {
      if (!name.empty() && !is_host_name(name)) return std::nullopt;
      return name;  // "" is the root
    }
    // Compression pointers (0xC0) never appear in rdata handed out
    // uncompressed.
    if (label > max_label || i + label > length) return std::nullopt;
    std::string_view text(reinterpret_cast<const char*>(wire + i), label);
    // A dot inside a label would read as two labels; every other octet is
    // checked with the whole name at the root label.
    if (text.find('.') != std::string_view::npos) return std::nullopt;
    if (!name.empty()) name += '.';
    for (char c : text) name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    i += label;
  }
  return std::nullopt;  // no root label: truncated
}

}  // namespace aviary::relay
