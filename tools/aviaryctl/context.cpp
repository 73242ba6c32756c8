// context.cpp - the lazily opened config and store (see context.hpp).
#include "tools/aviaryctl/context.hpp"

namespace aviary::ctl {

void fail(const std::string& message) { throw CommandError(message); }

void check(const Status& status) {
  if (!status) fail(status.error().message);
}

Context::~Context() = default;

const Config& Context::config() {
  if (!config_) config_ = load_config(globals_.config_path);
  return *config_;
}

storage::Env& Context::env() {
  if (!env_) {
    const Config& cfg = config();
    storage::EnvOptions options;
    options.path = cfg.storage.path;
    options.map_size = cfg.storage.map_size;
    env_ = std::make_unique<storage::Env>(options);
  }
  return *env_;
}

}  // namespace aviary::ctl
