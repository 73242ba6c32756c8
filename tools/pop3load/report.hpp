// report.hpp - what the sessions measured, and the one-line and JSON reports of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/pop3load/options.hpp"

namespace aviary::pop3load {

// Each session fills its own Results; merge() adds them up at the end, so no
// locking is needed while the load runs.
struct Results {
  std::uint64_t sessions = 0;            // logins that reached QUIT's +OK
  std::uint64_t messages = 0;            // RETRs answered in full
  std::uint64_t octets = 0;              // of those RETR responses, as sent (dot-stuffed)
  std::uint64_t failures = 0;            // sessions that ended in an error
  std::vector<std::int64_t> latency_ns;  // RETR written -> terminating ".CRLF" read
  std::map<std::string, std::uint64_t> reasons;  // a few distinct failure texts, counted

  void fail(const std::string& reason);
  void merge(const Results& other);
};

struct Summary {
  double seconds = 0;
  double msgs_per_sec = 0;
  double mb_per_sec = 0;  // 10^6 octets
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

// summarize - rates and nearest-rank percentiles; sorts r.latency_ns.
Summary summarize(Results& r, std::chrono::nanoseconds elapsed);

std::string human_line(const Options& o, const Results& r, const Summary& s);
std::string json_object(const Options& o, const Results& r, const Summary& s);

}  // namespace aviary::pop3load
