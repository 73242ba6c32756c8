// services.hpp - what the queue runner and its deliveries share.
#pragma once

#include "common/config.hpp"
#include "relay/metrics.hpp"
#include "storage/env.hpp"
#include "storage/writer.hpp"

namespace aviary::relay {

struct Services {
  const Config& config;
  storage::Env& env;
  storage::Writer& writer;
  Metrics& metrics;
};

}  // namespace aviary::relay
