// result.hpp - the value-or-error type for expected failures.
//
// Protocol outcomes are replies, bugs abort, I/O failures throw; what is left
// (a user that already exists, a full store, a bad address) comes back as a
// Result so the caller must look at it. Stand-in for std::expected (C++23).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace aviary {

enum class Errc {
  invalid,       // malformed input: bad address, bad size, bad value
  not_found,     // the thing named does not exist
  exists,        // the thing to create already exists
  has_users,     // a domain still holds users (domain del without --force)
  alias_loop,    // an alias would expand into itself or too deep
  over_quota,    // a mailbox would grow past its quota
  storage_full,  // the LMDB map is full (MDB_MAP_FULL)
  storage,       // any other storage failure: I/O, corruption, version
};

struct Error {
  Errc code;
  std::string message;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_{Errc::invalid, {}};
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace aviary
