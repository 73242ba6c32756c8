// output.hpp - what aviaryctl prints: aligned text columns for people, JSON
// for scripts.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::ctl {

// Rows of cells printed with each column padded to its widest cell, one line
// per row and no header, so that `grep` and `cut` still work on the output.
class TextTable {
 public:
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A streaming JSON writer: commas and escaping are its business, so callers
// cannot produce invalid JSON whatever bytes an address holds.
class JsonWriter {
 public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(std::uint64_t number);
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(bool flag);
  // Shorthands for one member of the current object.
  template <class T>
  JsonWriter& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }
  // Ends the document with a newline.
  void finish();

 private:
  void before_value();

  std::ostream& out_;
  // One entry per open container: true once it holds an element.
  std::vector<bool> nonempty_;
  bool after_key_ = false;
};

// `text` as a JSON string literal, quotes included (RFC 8259 §7).
std::string json_quote(std::string_view text);

// A quota in text output: "1GiB", or "none" for 0 as the store means it.
std::string format_quota(std::uint64_t quota);

// "1 user", "2 users": counts read as English in text output.
std::string count_of(std::uint64_t n, std::string_view singular, std::string_view plural);

}  // namespace aviary::ctl
