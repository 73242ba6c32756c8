// daemon_main.cpp - see daemon_main.hpp.
#include "service/daemon_main.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/privileges.hpp"

namespace aviary::service {

int daemon_main(int argc, char** argv, const char* name, const char* description,
                const std::function<void(const Config&)>& serve) {
  CLI::App app{std::string(name) + ": " + description};
  std::string config_path = default_config_path;
  app.add_option("-c,--config", config_path, "configuration file");
  CLI11_PARSE(app, argc, argv);
  // A client that goes away mid-write is an error on that write, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  // Mail is private: nothing the daemon creates (store, spill and lock
  // files, directories) is ever readable by other users. A stricter umask
  // (systemd's UMask=0077) stays as it is.
  ::umask(::umask(0) | 027);
  try {
    Config config = load_config(config_path);
    check_account(config);  // a bad user stops it before anything is bound
    serve(config);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace aviary::service
