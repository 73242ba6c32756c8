// daemon_main.hpp - the main() both daemons share: -c/--config, a config
// that must load before anything is served, and one clear line on failure.
#pragma once

#include <functional>

#include "common/config.hpp"

namespace aviary::service {

// Parses the command line, loads the config and calls serve(config), which
// returns when the daemon has stopped. Returns the process exit code.
int daemon_main(int argc, char** argv, const char* name, const char* description,
                const std::function<void(const Config&)>& serve);

}  // namespace aviary::service
