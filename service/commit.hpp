// commit.hpp - awaiting a store write (storage/store.hpp) from a coroutine.
//
// The store finishes the write on its own thread and the result is posted
// back to the session's executor, so the coroutine resumes there and no I/O
// thread ever waits for an fsync.
#pragma once

#include <asio/awaitable.hpp>
#include <functional>

#include "storage/store.hpp"

namespace aviary::service {

// Starts one store write, e.g. [&](storage::Done done) { store.deliver(d, done); },
// and resumes when it is committed (or failed). Pass a named object.
using Write = std::function<void(storage::Done)>;
asio::awaitable<Status> commit(const Write& start);

}  // namespace aviary::service
