// main.cpp - aviaryctl: parses NOUN VERB ARGS, runs the verb, and turns its
// outcome into an exit code (0 done, 1 error, 2 usage).
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/config.hpp"
#include "storage/failure.hpp"
#include "tools/aviaryctl/commands.hpp"
#include "tools/aviaryctl/context.hpp"

namespace {

using namespace aviary::ctl;

// The one line every failure gets, so scripts can show it as is.
int error_line(const std::string& message) {
  std::cerr << "aviaryctl: " << message << '\n';
  return exit_error;
}

// deepest - the subcommand the parser got furthest into: "domain" for
// "aviaryctl domain frob", the app itself for "aviaryctl frob".
CLI::App* deepest(CLI::App& app) {
  CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  return at;
}

// complaint - CLI11's message, except that a misspelt noun or verb reads as
// such rather than as "A subcommand is required".
std::string complaint(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* at = deepest(app);
  std::vector<std::string> rest = app.remaining(true);
  if (at->get_require_subcommand_min() == 0 || rest.empty()) return e.what();
  std::string typed = rest.front();
  for (CLI::App* sub = at; sub != &app; sub = sub->get_parent()) typed = sub->get_name() + " " + typed;
  return "unknown command \"" + typed + "\"";
}

// usage_error - the parser's complaint and the usage of the (sub)command the
// admin was typing, on stderr; --help goes to stdout with exit 0.
int usage_error(CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
  std::cerr << "aviaryctl: " << complaint(app, e) << "\n\n" << app.help();
  return exit_usage;
}

int run(Context& context, const Verbs& verbs) {
  try {
    for (const Verb& verb : verbs) {
      if (verb.command->parsed()) {
        verb.run(context);
        std::cout.flush();
        if (!std::cout) return error_line("cannot write to standard output");
        return exit_ok;
      }
    }
    return error_line("no command given");  // unreachable: the parser requires a verb
  } catch (const CommandError& e) {
    return error_line(e.what());
  } catch (const aviary::ConfigError& e) {
    return error_line(e.what());  // already "<file>:<line>: <key>: ..."
  } catch (const aviary::storage::Failure& e) {
    return error_line(e.what());
  } catch (const std::exception& e) {
    return error_line(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Administers Aviary's hosted domains, users, aliases and mailboxes.", "aviaryctl"};
  Globals globals;
  app.add_option("-c,--config", globals.config_path, "Configuration file")
      ->capture_default_str()
      // The last one wins, so that a wrapper script can set a default.
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("--json", globals.json, "Print lists and stats as JSON");
  app.require_subcommand(1);
  // Global options may also follow the verb: "aviaryctl user list --json".
  // Set before the nouns are added, which inherit it.
  app.fallthrough();

  Verbs verbs;
  add_domain_commands(app, verbs);
  add_user_commands(app, verbs);
  add_alias_commands(app, verbs);
  add_mailbox_commands(app, verbs);
  add_queue_commands(app, verbs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return usage_error(app, e);
  }
  Context context(globals);
  return run(context, verbs);
}
