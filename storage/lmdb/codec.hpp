// codec.hpp - the binary encoding of record values.
//
// Records are a version byte followed by fixed-width big-endian integers and
// length-prefixed strings. Decoding a record that is too short is corruption,
// which is a Failure, never a silent default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::storage {

class Encoder {
 public:
  Encoder& u8(std::uint8_t v);
  Encoder& u32(std::uint32_t v);
  Encoder& u64(std::uint64_t v);
  Encoder& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
  Encoder& str(std::string_view v);
  Encoder& strs(const std::vector<std::string>& v);

  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Decoder {
 public:
  Decoder(std::string_view in, const char* what) : in_(in), what_(what) {}

  std::uint8_t u8();
  std::uint32_t u32();
  std::uint64_t u64();
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::string str();
  std::vector<std::string> strs();
  // Reads the version byte and fails unless it is one this code knows.
  void version(std::uint8_t expected);

 private:
  std::string_view take(std::size_t n);

  std::string_view in_;
  const char* what_;
};

}  // namespace aviary::storage
