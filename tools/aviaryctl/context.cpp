// context.cpp - the lazily opened config and store (see context.hpp).
#include "tools/aviaryctl/context.hpp"

#include "storage/open_store.hpp"

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

storage::Store& Context::store() {
  if (!store_) store_ = storage::open_store(config());
  return *store_;
}

}  // namespace aviary::ctl
