// daemon_main.cpp - see daemon_main.hpp.
#include "common/net/daemon_main.hpp"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

namespace aviary::net {

int daemon_main(int argc, char** argv, const char* name, const char* description,
                const std::function<void(const Config&)>& serve) {
  CLI::App app{std::string(name) + ": " + description};
  std::string config_path = default_config_path;
  app.add_option("-c,--config", config_path, "configuration file");
  CLI11_PARSE(app, argc, argv);
  // A client that goes away mid-write is an error on that write, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    serve(load_config(config_path));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace aviary::net
