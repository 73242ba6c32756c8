// metric_labels.hpp - the known values of a metric label, exported from the start.
//
// SPEC.md: every metric is exported from the first scrape with its known
// label values at 0, so that rate(), ratios and alert rules see a series
// before its first event, also right after a restart.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace aviary {

template <std::size_t N>
using LabelValues = std::array<std::string_view, N>;

template <std::size_t N>
bool is_known_label(const LabelValues<N>& values, std::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// Creates the series `label=value` of `family` for each known value.
template <class Family, std::size_t N>
void add_known_labels(Family& family, const char* label, const LabelValues<N>& values) {
  for (std::string_view v : values) family.Add({{label, std::string(v)}});
}

// A family named, described and registered: `builder` is prometheus::BuildCounter()
// and kin (templates, so that this header needs no prometheus include).
template <class Builder, class Registry>
auto& register_family(Builder builder, Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace aviary
