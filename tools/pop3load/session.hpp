// session.hpp - one simulated POP3 user, and the run of all of them.
#pragma once

#include "tools/pop3load/options.hpp"

namespace aviary::pop3load {

// run_load - runs the sessions, prints the report; returns the exit status
// (0, or 1 when any session failed).
int run_load(const Options& o);

}  // namespace aviary::pop3load
