// readers.hpp - clearing the reader slots of processes that died.
//
// A reader killed mid-transaction (aviaryctl, a backup script, an OOM kill)
// leaves its slot in lock.mdb claiming the snapshot it had: every page freed
// after that snapshot stays pinned, and the store reports "full" with an
// empty mailbox. LMDB clears such slots only when asked (mdb_reader_check),
// so the writer asks periodically and before answering "storage full".
#pragma once

#include <cstddef>
#include <vector>

#include "storage/lmdb/env.hpp"

namespace aviary::storage {

// Clears the slots of readers whose process is gone; how many it cleared.
std::size_t reap_stale_readers(Env& env);

// The process ids that hold a reader slot (live or stale): for tests and
// diagnostics.
std::vector<long> reader_pids(Env& env);

}  // namespace aviary::storage
