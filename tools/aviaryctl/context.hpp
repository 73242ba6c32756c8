// context.hpp - what every aviaryctl command shares: global options, the
// config and the store (both opened on first use), and the error it throws.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/config.hpp"
#include "common/result.hpp"
#include "storage/store.hpp"

namespace aviary::ctl {

// Exit codes (SPEC.md, "aviaryctl").
inline constexpr int exit_ok = 0;
inline constexpr int exit_error = 1;
inline constexpr int exit_usage = 2;

// The options that come before (or, by fallthrough, after) NOUN VERB.
struct Globals {
  std::string config_path = default_config_path;
  bool json = false;
};

// An expected failure of a command: main prints "aviaryctl: <what>" on
// stderr and exits 1. Usage errors never take this path; CLI11 reports them.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& message);
// Throws CommandError with the error's message unless `status` is ok.
void check(const Status& status);

// The config and the store, opened lazily so that a usage error or --help
// never reads a file. The store is opened once per run; transactions are
// short so that running daemons are never held up.
class Context {
 public:
  explicit Context(const Globals& globals) : globals_(globals) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  bool json() const { return globals_.json; }
  const Config& config();       // throws ConfigError
  storage::Store& store();      // throws ConfigError or storage::Failure

 private:
  const Globals& globals_;
  std::optional<Config> config_;
  std::unique_ptr<storage::Store> store_;
};

}  // namespace aviary::ctl
