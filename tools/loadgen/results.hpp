// results.hpp - what the sessions measured, and the one-line and JSON reports of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/loadgen/options.hpp"

namespace aviary::loadgen {

enum class Failure {
  rejected,    // the server answered with something other than 2xx (or 354 to DATA)
  connection,  // connect refused, reset, timeout, garbage instead of a reply
};

// Each session fills its own Results; merge() adds them up at the end, so no
// locking is needed while the load runs.
struct Results {
  std::uint64_t ok = 0;
  std::uint64_t rejected = 0;
  std::uint64_t connection_errors = 0;
  std::uint64_t connections = 0;
  std::vector<std::int64_t> latency_ns;          // end of DATA -> 2xx, accepted messages only
  std::map<std::string, std::uint64_t> reasons;  // a few distinct failure texts, counted

  void succeed(std::chrono::nanoseconds latency);
  void fail(Failure kind, const std::string& reason);
  void merge(const Results& other);
  std::uint64_t failures() const { return rejected + connection_errors; }
};

struct Summary {
  std::uint64_t attempted = 0;
  double seconds = 0;
  double msgs_per_sec = 0;
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

// summarize - rates and nearest-rank percentiles; sorts r.latency_ns.
Summary summarize(Results& r, std::chrono::nanoseconds elapsed);

std::string human_line(const Options& o, const Results& r, const Summary& s);
std::string json_object(const Options& o, const Results& r, const Summary& s);

}  // namespace aviary::loadgen
