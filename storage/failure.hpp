// failure.hpp - what a store throws when it cannot do its job at all.
#pragma once

#include <stdexcept>
#include <string>

#include "common/result.hpp"

namespace aviary::storage {

// A real storage failure: storage full, I/O error, corruption, an
// incompatible store. Expected outcomes (not found, already exists) are
// never Failures.
class Failure : public std::runtime_error {
 public:
  Failure(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const { return code_; }
  Error error() const { return Error{code_, what()}; }

 private:
  Errc code_;
};

}  // namespace aviary::storage
