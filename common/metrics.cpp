// metrics.cpp - see metrics.hpp.
#include "common/metrics.hpp"

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <stdexcept>

namespace aviary {

MetricsServer::MetricsServer(const std::optional<Endpoint>& endpoint)
    : registry_(std::make_shared<prometheus::Registry>()) {
  if (!endpoint) return;
  try {
    // civetweb wants "1.2.3.4:9101" or "[::1]:9101", as Endpoint prints.
    exposer_ = std::make_unique<prometheus::Exposer>(endpoint->to_string(), 2);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve metrics on " + endpoint->to_string() + ": " + e.what());
  }
  exposer_->RegisterCollectable(registry_);
}

MetricsServer::~MetricsServer() = default;

}  // namespace aviary
