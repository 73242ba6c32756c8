// metrics.hpp - the aviary_smtpd_* metrics and aviary_storage_commit_duration_seconds of SPEC.md.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/metric_labels.hpp"

namespace prometheus {
class Registry;
}

namespace aviary::smtpd {

// Every value each label can take (common/metric_labels.hpp); another value
// is a bug.
inline constexpr LabelValues<3> listener_names = {"smtp", "submission", "submissions"};
inline constexpr LabelValues<5> rejection_reasons = {"size", "bare_line_end", "hops", "quota", "storage"};
inline constexpr LabelValues<3> recipient_dispositions = {"local", "relay", "rejected"};
inline constexpr LabelValues<3> auth_results = {"success", "failure", "throttled"};

class Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void connection_opened(const std::string& listener);
  void connection_closed(const std::string& listener);
  void message_received(const std::string& listener, std::uint64_t size);
  void message_rejected(const std::string& reason);
  void recipient(const std::string& disposition);  // local, relay, rejected
  void auth_attempt(const std::string& result);
  void storage_commit(std::chrono::duration<double> elapsed);

 private:
  struct Families;
  std::unique_ptr<Families> f_;
};

}  // namespace aviary::smtpd
