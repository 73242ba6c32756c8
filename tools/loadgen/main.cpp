// main.cpp - aviary-loadgen: an SMTP load generator for benchmarks (tools/bench/).
#include <sys/resource.h>

#include <csignal>
#include <exception>
#include <iostream>

#include "tools/loadgen/load.hpp"
#include "tools/loadgen/options.hpp"

namespace {

// raise_fd_limit - thousands of connections need more than the usual 1024.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto options = aviary::loadgen::parse_options(argc, argv);
  raise_fd_limit();
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return options.idle > 0 ? aviary::loadgen::run_idle(options) : aviary::loadgen::run_load(options);
  } catch (const std::exception& e) {
    std::cerr << "aviary-loadgen: " << e.what() << '\n';
    return 1;
  }
}
