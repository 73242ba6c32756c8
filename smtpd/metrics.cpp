// metrics.cpp - see metrics.hpp.
#include "smtpd/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cassert>

namespace aviary::smtpd {

struct Metrics::Families {
  prometheus::Family<prometheus::Counter>& connections;
  prometheus::Family<prometheus::Gauge>& sessions;
  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& rejected;
  prometheus::Family<prometheus::Counter>& recipients;
  prometheus::Family<prometheus::Counter>& auth;
  prometheus::Histogram& size;
  prometheus::Histogram& commit;
};

Metrics::Metrics(prometheus::Registry& r)
    : f_(new Families{
          register_family(prometheus::BuildCounter(), r, "aviary_smtpd_connections_total", "SMTP connections accepted"),
          register_family(prometheus::BuildGauge(), r, "aviary_smtpd_sessions_active", "SMTP sessions open now"),
          register_family(prometheus::BuildCounter(), r, "aviary_smtpd_messages_received_total",
                          "Messages accepted (250 after DATA/BDAT)"),
          register_family(prometheus::BuildCounter(), r, "aviary_smtpd_messages_rejected_total",
                          "Messages refused, by reason"),
          register_family(prometheus::BuildCounter(), r, "aviary_smtpd_recipients_total", "Recipients, by disposition"),
          register_family(prometheus::BuildCounter(), r, "aviary_smtpd_auth_attempts_total",
                          "AUTH attempts, by result"),
          register_family(prometheus::BuildHistogram(), r, "aviary_smtpd_message_size_bytes",
                          "Size of accepted messages")
              .Add({}, prometheus::Histogram::BucketBoundaries{1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                                               16777216, 67108864}),
          register_family(prometheus::BuildHistogram(), r, "aviary_storage_commit_duration_seconds",
                          "Duration of one group commit, fsync included")
              .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25, 0.5, 1, 2.5}),
      }) {
  add_known_labels(f_->connections, "listener", listener_names);
  add_known_labels(f_->sessions, "listener", listener_names);
  add_known_labels(f_->received, "listener", listener_names);
  add_known_labels(f_->rejected, "reason", rejection_reasons);
  add_known_labels(f_->recipients, "disposition", recipient_dispositions);
  add_known_labels(f_->auth, "result", auth_results);
}

Metrics::~Metrics() = default;

void Metrics::connection_opened(const std::string& listener) {
  assert(is_known_label(listener_names, listener));
  f_->connections.Add({{"listener", listener}}).Increment();
  f_->sessions.Add({{"listener", listener}}).Increment();
}

void Metrics::connection_closed(const std::string& listener) { f_->sessions.Add({{"listener", listener}}).Decrement(); }

void Metrics::message_received(const std::string& listener, std::uint64_t size) {
  f_->received.Add({{"listener", listener}}).Increment();
  f_->size.Observe(static_cast<double>(size));
}

void Metrics::message_rejected(const std::string& reason) {
  assert(is_known_label(rejection_reasons, reason));
  f_->rejected.Add({{"reason", reason}}).Increment();
}

void Metrics::recipient(const std::string& disposition) {
  assert(is_known_label(recipient_dispositions, disposition));
  f_->recipients.Add({{"disposition", disposition}}).Increment();
}

void Metrics::auth_attempt(const std::string& result) {
  assert(is_known_label(auth_results, result));
  f_->auth.Add({{"result", result}}).Increment();
}

void Metrics::storage_commit(std::chrono::duration<double> elapsed) { f_->commit.Observe(elapsed.count()); }

}  // namespace aviary::smtpd
