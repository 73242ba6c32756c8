// readers.cpp - stale reader slots (see readers.hpp).
#include "storage/lmdb/readers.hpp"

#include <lmdb.h>

#include <cstdlib>
#include <string>

#include "common/log.hpp"

namespace aviary::storage {

std::size_t reap_stale_readers(Env& env) {
  int dead = 0;
  // Takes only the reader table's own lock: safe beside running transactions.
  if (int rc = mdb_reader_check(env.handle(), &dead); rc != 0) {
    log::warning("storage: cannot check reader slots: ", mdb_strerror(rc));
    return 0;
  }
  if (dead > 0) log::warning("storage: cleared ", dead, " reader slot(s) left by dead processes");
  return static_cast<std::size_t>(dead);
}

std::vector<long> reader_pids(Env& env) {
  // mdb_reader_list prints one line per slot: "    pid     thread     txnid"
  // after a header line.
  std::vector<long> pids;
  mdb_reader_list(
      env.handle(),
      [](const char* line, void* out) -> int {
        char* end = nullptr;
        long pid = std::strtol(line, &end, 10);
        if (end != line && pid > 0) static_cast<std::vector<long>*>(out)->push_back(pid);
        return 0;
      },
      &pids);
  return pids;
}

}  // namespace aviary::storage
