// codec.cpp - see codec.hpp.
#include "storage/lmdb/codec.hpp"

#include "storage/lmdb/env.hpp"
#include "storage/lmdb/schema.hpp"

namespace aviary::storage {

Encoder& Encoder::u8(std::uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

Encoder& Encoder::u32(std::uint32_t v) {
  out_ += be32(v);
  return *this;
}

Encoder& Encoder::u64(std::uint64_t v) {
  out_ += be64(v);
  return *this;
}

Encoder& Encoder::str(std::string_view v) {
  u32(static_cast<std::uint32_t>(v.size()));
  out_.append(v);
  return *this;
}

Encoder& Encoder::strs(const std::vector<std::string>& v) {
  u32(static_cast<std::uint32_t>(v.size()));
  for (const auto& s : v) str(s);
  return *this;
}

std::string_view Decoder::take(std::size_t n) {
  if (in_.size() < n) {
    throw Failure(Errc::storage, std::string("corrupt ") + what_ + " record (truncated)");
  }
  std::string_view head = in_.substr(0, n);
  in_.remove_prefix(n);
  return head;
}

std::uint8_t Decoder::u8() { return static_cast<std::uint8_t>(take(1)[0]); }
std::uint32_t Decoder::u32() { return read_be32(take(4)); }
std::uint64_t Decoder::u64() { return read_be64(take(8)); }

std::string Decoder::str() {
  std::uint32_t n = u32();
  return std::string(take(n));
}

std::vector<std::string> Decoder::strs() {
  std::uint32_t n = u32();
  std::vector<std::string> out;
  out.reserve(n < 1024 ? n : 1024);
  for (std::uint32_t i = 0; i < n; ++i) out.push_back(str());
  return out;
}

void Decoder::version(std::uint8_t expected) {
  std::uint8_t v = u8();
  if (v != expected) {
    throw Failure(Errc::storage, std::string("unknown ") + what_ + " record version " +
                                     std::to_string(v));
  }
}

}  // namespace aviary::storage
