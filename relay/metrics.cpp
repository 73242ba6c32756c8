// metrics.cpp - see metrics.hpp.
#include "relay/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cassert>

namespace aviary::relay {

struct Metrics::Families {
  prometheus::Gauge& queue_messages;
  prometheus::Gauge& queue_oldest;
  prometheus::Family<prometheus::Counter>& attempts;
  prometheus::Histogram& delivery;
  prometheus::Gauge& map_size;
  prometheus::Gauge& map_used;
  prometheus::Counter& queue_corrupt;
};

Metrics::Metrics(prometheus::Registry& r)
    : f_(new Families{
          register_family(prometheus::BuildGauge(), r, "aviary_queue_messages",
                          "Messages in the outbound queue")
              .Add({}),
          register_family(prometheus::BuildGauge(), r, "aviary_queue_oldest_age_seconds",
                          "Age of the oldest queued message")
              .Add({}),
          register_family(prometheus::BuildCounter(), r, "aviary_delivery_attempts_total",
                          "Outbound delivery attempts per recipient, by result"),
          register_family(prometheus::BuildHistogram(), r, "aviary_delivery_duration_seconds",
                          "Duration of one outbound transaction, connection set-up included")
              .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                                               30, 60, 300}),
          register_family(prometheus::BuildGauge(), r, "aviary_storage_map_size_bytes",
                          "LMDB map size (storage.map_size)")
              .Add({}),
          register_family(prometheus::BuildGauge(), r, "aviary_storage_map_used_bytes",
                          "How far into the map the store reaches; writes fail when it reaches the map size")
              .Add({}),
          register_family(prometheus::BuildCounter(), r, "aviary_queue_corrupt_records_total",
                          "Queue records the relay could not decode and skipped (see the log)")
              .Add({}),
      }) {
  add_known_labels(f_->attempts, "result", delivery_results);
}

Metrics::~Metrics() = default;

void Metrics::queue_state(std::uint64_t messages, double oldest_age_seconds) {
  f_->queue_messages.Set(static_cast<double>(messages));
  f_->queue_oldest.Set(oldest_age_seconds);
}

void Metrics::storage_usage(std::uint64_t map_size, std::uint64_t map_used) {
  f_->map_size.Set(static_cast<double>(map_size));
  f_->map_used.Set(static_cast<double>(map_used));
}

void Metrics::delivery_attempt(const std::string& result) {
  assert(is_known_label(delivery_results, result));
  f_->attempts.Add({{"result", result}}).Increment();
}

void Metrics::delivery_duration(std::chrono::duration<double> elapsed) { f_->delivery.Observe(elapsed.count()); }

void Metrics::queue_corrupt_record() { f_->queue_corrupt.Increment(); }

}  // namespace aviary::relay
