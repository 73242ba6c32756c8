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
          prometheus::BuildCounter().Name("aviary_pop3d_connections_total").Help("POP3 connections accepted").Register(r),
          prometheus::BuildGauge().Name("aviary_pop3d_sessions_active").Help("POP3 sessions open now").Register(r).Add({}),
          prometheus::BuildCounter().Name("aviary_pop3d_logins_total").Help("POP3 logins, by result").Register(r),
          prometheus::BuildCounter().Name("aviary_pop3d_messages_retrieved_total").Help("Messages sent by RETR").Register(r).Add({}),
          prometheus::BuildCounter().Name("aviary_pop3d_bytes_sent_total").Help("Message octets sent by RETR and TOP").Register(r).Add({}),
          prometheus::BuildCounter().Name("aviary_pop3d_messages_deleted_total").Help("Messages deleted at QUIT").Register(r).Add({}),
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
