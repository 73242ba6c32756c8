// results.cpp - counting, percentiles and the report formats of aviary-loadgen.
#include "tools/loadgen/results.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace aviary::loadgen {

namespace {

// Failure texts often carry queue ids or ports; keep a few, count the rest.
constexpr std::size_t max_reasons = 16;
const std::string other_reasons = "(other reasons)";

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

// percentile - nearest rank over sorted values; 0 when there are none.
double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return ms(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]);
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void add_reason(std::map<std::string, std::uint64_t>& reasons, const std::string& reason, std::uint64_t n) {
  auto it = reasons.find(reason);
  if (it != reasons.end()) {
    it->second += n;
  } else if (reasons.size() < max_reasons) {
    reasons.emplace(reason, n);
  } else {
    reasons[other_reasons] += n;
  }
}

}  // namespace

void Results::succeed(std::chrono::nanoseconds latency) {
  ++ok;
  latency_ns.push_back(latency.count());
}

void Results::fail(Failure kind, const std::string& reason) {
  ++(kind == Failure::rejected ? rejected : connection_errors);
  add_reason(reasons, reason, 1);
}

void Results::merge(const Results& other) {
  ok += other.ok;
  rejected += other.rejected;
  connection_errors += other.connection_errors;
  connections += other.connections;
  latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
  for (const auto& [reason, n] : other.reasons) add_reason(reasons, reason, n);
}

Summary summarize(Results& r, std::chrono::nanoseconds elapsed) {
  Summary s;
  s.attempted = r.ok + r.failures();
  s.seconds = static_cast<double>(elapsed.count()) / 1e9;
  s.msgs_per_sec = s.seconds > 0 ? static_cast<double>(r.ok) / s.seconds : 0;
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  if (!r.latency_ns.empty()) {
    long double total = std::accumulate(r.latency_ns.begin(), r.latency_ns.end(), 0.0L);
    s.mean_ms = static_cast<double>(total / r.latency_ns.size()) / 1e6;
    s.max_ms = ms(r.latency_ns.back());
  }
  s.p50_ms = percentile(r.latency_ns, 50);
  s.p90_ms = percentile(r.latency_ns, 90);
  s.p99_ms = percentile(r.latency_ns, 99);
  return s;
}

std::string human_line(const Options& o, const Results& r, const Summary& s) {
  std::string line = o.server.to_string() + " C=" + std::to_string(o.concurrency) +
                     " K=" + std::to_string(o.per_connection) + " size=" + std::to_string(o.size) +
                     (o.pipelining ? " pipelining" : "") + ": " + std::to_string(r.ok) + " accepted, " +
                     std::to_string(r.failures()) + " failed (" + std::to_string(r.rejected) + " rejected, " +
                     std::to_string(r.connection_errors) + " connection errors) in " + fixed(s.seconds, 2) +
                     " s = " + fixed(s.msgs_per_sec, 1) + " msgs/s; end-of-DATA to 250 ms: p50 " +
                     fixed(s.p50_ms, 2) + " p90 " + fixed(s.p90_ms, 2) + " p99 " + fixed(s.p99_ms, 2) + " max " +
                     fixed(s.max_ms, 2);
  return line;
}

std::string json_object(const Options& o, const Results& r, const Summary& s) {
  std::string j = "{";
  auto field = [&j](const char* name, const std::string& value) {
    if (j.size() > 1) j += ',';
    j += '"';
    j += name;
    j += "\":";
    j += value;
  };
  field("server", json_string(o.server.to_string()));
  field("concurrency", std::to_string(o.concurrency));
  field("per_connection", std::to_string(o.per_connection));
  field("size", std::to_string(o.size));
  field("pipelining", o.pipelining ? "true" : "false");
  field("attempted", std::to_string(s.attempted));
  field("messages", std::to_string(r.ok));
  field("failures", std::to_string(r.failures()));
  field("rejected", std::to_string(r.rejected));
  field("connection_errors", std::to_string(r.connection_errors));
  field("connections", std::to_string(r.connections));
  field("seconds", fixed(s.seconds, 3));
  field("msgs_per_sec", fixed(s.msgs_per_sec, 1));
  field("mean_ms", fixed(s.mean_ms, 3));
  field("p50_ms", fixed(s.p50_ms, 3));
  field("p90_ms", fixed(s.p90_ms, 3));
  field("p99_ms", fixed(s.p99_ms, 3));
  field("max_ms", fixed(s.max_ms, 3));
  std::string reasons = "{";
  for (const auto& [reason, n] : r.reasons) {
    if (reasons.size() > 1) reasons += ',';
    reasons += json_string(reason) + ':' + std::to_string(n);
  }
  field("failure_reasons", reasons + '}');
  return j + '}';
}

}  // namespace aviary::loadgen
