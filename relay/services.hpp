// services.hpp - what the queue runner and its deliveries share.
#pragma once

#include "common/config.hpp"
#include "relay/metrics.hpp"
#include "storage/store.hpp"

namespace aviary::relay {

struct Services {
  const Config& config;
  storage::Store& store;
  Metrics& metrics;
};

}  // namespace aviary::relay
