// exception_text.hpp - what a coroutine's completion handler logs about the
// exception that ended it.
#pragma once

#include <exception>
#include <string>
#include <system_error>

namespace aviary {

struct ExceptionText {
  std::string what;
  std::error_code code;  // set for a std::system_error
};

// The std::exception `e` holds; anything else propagates, as a bug should.
inline ExceptionText exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& err) {
    return {err.what(), err.code()};
  } catch (const std::exception& err) {
    return {err.what(), {}};
  }
}

}  // namespace aviary
