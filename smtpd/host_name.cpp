// host_name.cpp - see host_name.hpp.
#include "smtpd/host_name.hpp"

#include <algorithm>

namespace aviary::smtpd {
namespace {

constexpr std::size_t max_label = 63;
constexpr std::size_t max_name = 253;

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_label(std::string_view label) {
  return !label.empty() && label.size() <= max_label && label.front() != '-' && label.back() != '-' &&
         std::all_of(label.begin(), label.end(), is_ldh);
}

}  // namespace

bool is_host_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > max_name) return false;
  std::string_view last;
  for (std::size_t start = 0;;) {
    std::size_t dot = name.find('.', start);
    last = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!is_label(last)) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
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
    // uncompressed; a label with a dot inside would read as two.
    if (label > max_label || i + label > length) return std::nullopt;
    std::string_view text(reinterpret_cast<const char*>(wire + i), label);
    if (!is_label(text)) return std::nullopt;
    if (!name.empty()) name += '.';
    for (char c : text) name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    i += label;
  }
  return std::nullopt;  // no root label: truncated
}

}  // namespace aviary::smtpd
