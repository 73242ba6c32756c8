// metrics.hpp - a Prometheus registry and the HTTP exposer that serves it.
#pragma once

#include <memory>
#include <optional>

#include "common/config.hpp"

namespace prometheus {
class Registry;
class Exposer;
}  // namespace prometheus

namespace aviary {

class MetricsServer {
 public:
  // Serves /metrics on `endpoint` when it is set; throws std::runtime_error
  // if the address cannot be bound.
  explicit MetricsServer(const std::optional<Endpoint>& endpoint);
  ~MetricsServer();

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace aviary
