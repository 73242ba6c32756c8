// log.hpp - one line per event on stderr; journald adds time and unit.
//
// Each line is written with a single write(2) so that lines from several
// threads never interleave.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace aviary::log {

enum class Level { debug, info, warning, error };

void set_min_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view line);

template <class... Parts>
void emit(Level level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, out.str());
}

template <class... Parts> void debug(const Parts&... p) { emit(Level::debug, p...); }
template <class... Parts> void info(const Parts&... p) { emit(Level::info, p...); }
template <class... Parts> void warning(const Parts&... p) { emit(Level::warning, p...); }
template <class... Parts> void error(const Parts&... p) { emit(Level::error, p...); }

}  // namespace aviary::log
