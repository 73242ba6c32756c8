// metrics.cpp - see metrics.hpp.
#include "pop3d/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cassert>

namespace aviary::pop3d {

struct Metrics::Families {
  prometheus::Family<prometheus::Counter>& connections;
  prometheus::Gauge& sessions;
  prometheus::Family<prometheus::Counter>& logins;
  prometheus::Counter& retrieved;
  prometheus::Counter& bytes;
  prometheus::Counter& deleted;
};

Metrics::Metrics(prometheus::Registry& r)
    : f_(new Families{
          register_family(prometheus::BuildCounter(), r, "aviary_pop3d_connections_total", "POP3 connections accepted"),
          register_family(prometheus::BuildGauge(), r, "aviary_pop3d_sessions_active",
                          "POP3 sessions open now")
              .Add({}),
          register_family(prometheus::BuildCounter(), r, "aviary_pop3d_logins_total", "POP3 logins, by result"),
          register_family(prometheus::BuildCounter(), r, "aviary_pop3d_messages_retrieved_total",
                          "Messages sent by RETR")
              .Add({}),
          register_family(prometheus::BuildCounter(), r, "aviary_pop3d_bytes_sent_total",
                          "Message octets sent by RETR and TOP")
              .Add({}),
          register_family(prometheus::BuildCounter(), r, "aviary_pop3d_messages_deleted_total",
                          "Messages deleted at QUIT")
              .Add({}),
      }) {
  add_known_labels(f_->connections, "listener", listener_names);
  add_known_labels(f_->logins, "result", login_results);
}

Metrics::~Metrics() = default;

void Metrics::connection_opened(const std::string& listener) {
  assert(is_known_label(listener_names, listener));
  f_->connections.Add({{"listener", listener}}).Increment();
  f_->sessions.Increment();
}

void Metrics::connection_closed() { f_->sessions.Decrement(); }
void Metrics::login(const std::string& result) {
  assert(is_known_label(login_results, result));
  f_->logins.Add({{"result", result}}).Increment();
}
void Metrics::retrieved() { f_->retrieved.Increment(); }
void Metrics::bytes_sent(std::uint64_t bytes) { f_->bytes.Increment(static_cast<double>(bytes)); }
void Metrics::deleted(std::uint64_t messages) { f_->deleted.Increment(static_cast<double>(messages)); }

}  // namespace aviary::pop3d
