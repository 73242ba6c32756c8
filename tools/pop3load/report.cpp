// report.cpp - rates, percentiles and the printed forms of an aviary-pop3load run.
#include "tools/pop3load/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace aviary::pop3load {

namespace {

// Keep the report short when a server fails in many different ways.
constexpr std::size_t max_reasons = 8;

double nearest_rank_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

const char* tls_name(TlsMode m) {
  switch (m) {
    case TlsMode::none: return "none";
    case TlsMode::stls: return "stls";
    case TlsMode::implicit: return "implicit";
  }
  return "?";
}

}  // namespace

void Results::fail(const std::string& reason) {
  ++failures;
  if (reasons.size() < max_reasons || reasons.contains(reason)) ++reasons[reason];
}

void Results::merge(const Results& other) {
  sessions += other.sessions;
  messages += other.messages;
  octets += other.octets;
  failures += other.failures;
  latency_ns.insert(latency_ns.end(), other.latency_ns.begin(), other.latency_ns.end());
  for (const auto& [reason, n] : other.reasons)
    if (reasons.size() < max_reasons || reasons.contains(reason)) reasons[reason] += n;
}

Summary summarize(Results& r, std::chrono::nanoseconds elapsed) {
  Summary s;
  s.seconds = std::chrono::duration<double>(elapsed).count();
  if (s.seconds > 0) {
    s.msgs_per_sec = static_cast<double>(r.messages) / s.seconds;
    s.mb_per_sec = static_cast<double>(r.octets) / 1e6 / s.seconds;
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  if (!r.latency_ns.empty()) {
    double sum = std::accumulate(r.latency_ns.begin(), r.latency_ns.end(), 0.0);
    s.mean_ms = sum / static_cast<double>(r.latency_ns.size()) / 1e6;
    s.max_ms = static_cast<double>(r.latency_ns.back()) / 1e6;
  }
  s.p50_ms = nearest_rank_ms(r.latency_ns, 50);
  s.p90_ms = nearest_rank_ms(r.latency_ns, 90);
  s.p99_ms = nearest_rank_ms(r.latency_ns, 99);
  return s;
}

std::string human_line(const Options& o, const Results& r, const Summary& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s users=%u rounds=%u tls=%s: %llu msgs in %.2f s = %.0f msgs/s, %.2f MB/s; "
                "RETR p50 %.3f ms p90 %.3f ms p99 %.3f ms max %.3f ms; sessions %llu, failures %llu",
                o.server.to_string().c_str(), o.users, o.rounds, tls_name(o.tls),
                static_cast<unsigned long long>(r.messages), s.seconds, s.msgs_per_sec, s.mb_per_sec,
                s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, static_cast<unsigned long long>(r.sessions),
                static_cast<unsigned long long>(r.failures));
  std::string out = buf;
  for (const auto& [reason, n] : r.reasons) out += "\n  " + std::to_string(n) + "x " + reason;
  return out;
}

std::string json_object(const Options& o, const Results& r, const Summary& s) {
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "{\"server\":%s,\"users\":%u,\"rounds\":%u,\"tls\":\"%s\",\"messages\":%llu,"
                "\"octets\":%llu,\"sessions\":%llu,\"failures\":%llu,\"seconds\":%.6f,"
                "\"msgs_per_sec\":%.3f,\"mb_per_sec\":%.4f,\"mean_ms\":%.4f,\"p50_ms\":%.4f,"
                "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,\"reasons\":{",
                json_string(o.server.to_string()).c_str(), o.users, o.rounds, tls_name(o.tls),
                static_cast<unsigned long long>(r.messages), static_cast<unsigned long long>(r.octets),
                static_cast<unsigned long long>(r.sessions), static_cast<unsigned long long>(r.failures),
                s.seconds, s.msgs_per_sec, s.mb_per_sec, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms,
                s.max_ms);
  std::string out = buf;
  bool first = true;
  for (const auto& [reason, n] : r.reasons) {
    if (!first) out += ',';
    first = false;
    out += json_string(reason) + ":" + std::to_string(n);
  }
  return out + "}}";
}

}  // namespace aviary::pop3load
