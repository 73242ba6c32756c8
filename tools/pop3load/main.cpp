// main.cpp - aviary-pop3load: a POP3 load generator for benchmarks (tools/bench/pop3_bench.sh).
#include <sys/resource.h>

#include <csignal>
#include <exception>
#include <iostream>

#include "tools/pop3load/options.hpp"
#include "tools/pop3load/session.hpp"

namespace {

// raise_fd_limit - many concurrent users need more than the usual 1024.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto options = aviary::pop3load::parse_options(argc, argv);
  raise_fd_limit();
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return aviary::pop3load::run_load(options);
  } catch (const std::exception& e) {
    std::cerr << "aviary-pop3load: " << e.what() << '\n';
    return 1;
  }
}
