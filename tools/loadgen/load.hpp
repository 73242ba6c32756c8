// load.hpp - the two things aviary-loadgen does: send a load, or hold idle connections.
#pragma once

#include "tools/loadgen/options.hpp"

namespace aviary::loadgen {

// run_load - sends the messages, prints the report. Returns the exit status:
// 0 when every message was accepted, 1 otherwise.
int run_load(const Options& options);

// run_idle - opens --idle connections that read the banner and nothing else,
// prints "idle: N open, F failed" once they all have, holds them for --hold,
// closes them. Returns 0 when all N got a 220, 1 otherwise.
int run_idle(const Options& options);

}  // namespace aviary::loadgen
