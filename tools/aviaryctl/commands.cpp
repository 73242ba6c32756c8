// commands.cpp - what every noun shares (see commands.hpp).
#include "tools/aviaryctl/commands.hpp"

namespace aviary::ctl {

CLI::App* add_noun(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* noun = app.add_subcommand(name, description);
  // "aviaryctl domain" alone, or with an unknown verb, is a usage error.
  noun->require_subcommand(1);
  return noun;
}

}  // namespace aviary::ctl
