// commands.hpp - the NOUN VERB table: each noun file adds its verbs to the
// CLI11 parser and says what to run once the arguments are in.
#pragma once

#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/aviaryctl/context.hpp"

namespace aviary::ctl {

// One verb: the CLI11 subcommand that parses it and the action to run after
// a successful parse. Actions print to stdout and throw CommandError (or
// ConfigError, storage::Failure) on failure.
struct Verb {
  CLI::App* command;
  std::function<void(Context&)> run;
};
using Verbs = std::vector<Verb>;

// Adds the noun as a subcommand of `app` and its verbs to `verbs`.
void add_domain_commands(CLI::App& app, Verbs& verbs);
void add_user_commands(CLI::App& app, Verbs& verbs);
void add_alias_commands(CLI::App& app, Verbs& verbs);
void add_mailbox_commands(CLI::App& app, Verbs& verbs);
void add_queue_commands(CLI::App& app, Verbs& verbs);

// A noun: a subcommand that requires exactly one verb.
CLI::App* add_noun(CLI::App& app, const std::string& name, const std::string& description);

}  // namespace aviary::ctl
