// services.hpp - what sessions share: configuration, store, metrics.
#pragma once

#include <functional>
#include <string>

#include "common/config.hpp"
#include "smtpd/metrics.hpp"
#include "storage/store.hpp"

namespace aviary::service {
class Authenticator;
}

namespace aviary::smtpd {

struct Services {
  const Config& config;
  storage::Store& store;
  Metrics& metrics;
  bool tls_available = false;
  std::string spill_dir;  // where large messages wait for their commit
  service::Authenticator* authenticator = nullptr;  // AUTH on the submission listeners
  // Tells the queue runner that a message for remote recipients is in, so it
  // need not wait for its next scan. Safe from any thread.
  std::function<void()> relay_wakeup;
};

}  // namespace aviary::smtpd
