// metrics.hpp - the aviary_pop3d_* metrics of SPEC.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/metric_labels.hpp"

namespace prometheus {
class Registry;
}

namespace aviary::pop3d {

// Every value each label can take (common/metric_labels.hpp); another value
// is a bug.
inline constexpr LabelValues<2> listener_names = {"pop3", "pop3s"};
inline constexpr LabelValues<4> login_results = {"success", "failure", "throttled", "in_use"};

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void connection_opened(const std::string& listener);
  void connection_closed();
  void login(const std::string& result);  // success, failure, throttled, in_use
  void retrieved();
  void bytes_sent(std::uint64_t bytes);
  void deleted(std::uint64_t messages);

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace aviary::pop3d
