// log.cpp - stderr sink for aviary::log.
#include "common/log.hpp"

#include <unistd.h>

#include <atomic>

namespace aviary::log {
namespace {

std::atomic<Level> min_level{Level::info};

std::string_view prefix(Level level) {
  switch (level) {
    case Level::debug: return "debug: ";
    case Level::info: return "info: ";
    case Level::warning: return "warning: ";
    case Level::error: return "error: ";
  }
  return "";
}

}  // namespace

void set_min_level(Level level) { min_level.store(level); }

bool enabled(Level level) { return level >= min_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view line) {
  std::string out;
  out.reserve(line.size() + 12);
  out += prefix(level);
  // A line must stay one line: control characters from peers are escaped.
  for (unsigned char c : line) {
    if (c == '\n' || c == '\r' || c == 0) {
      out += ' ';
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\n';
  std::string_view rest = out;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) return;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace aviary::log
