// metrics.hpp - the relay's metrics of SPEC.md: aviary_queue_*, aviary_delivery_*, aviary_storage_map_*.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/metric_labels.hpp"

namespace prometheus {
class Registry;
}

namespace aviary::relay {

// Every value each label can take (common/metric_labels.hpp); another value
// is a bug.
inline constexpr LabelValues<3> delivery_results = {"delivered", "deferred", "bounced"};

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void queue_state(std::uint64_t messages, double oldest_age_seconds);
  void storage_usage(std::uint64_t map_size, std::uint64_t map_used);
  void delivery_attempt(const std::string& result);  // delivered, deferred, bounced
  void delivery_duration(std::chrono::duration<double> elapsed);
  void queue_corrupt_record();  // a queue record the relay cannot decode, skipped

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace aviary::relay
