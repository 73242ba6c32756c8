// check.hpp - a broken invariant is a crash for libFuzzer, with the reason
// (and where) on stderr.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHECK(cond, what)                                                                   \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "invariant broken: %s (%s) at %s:%d\n", what, #cond, __FILE__, \
                   __LINE__);                                                               \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
