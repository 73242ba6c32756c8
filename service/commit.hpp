// commit.hpp - awaiting the group-commit writer from a coroutine.
//
// The writer thread finishes the operation and posts the result back to the
// session's strand, so the coroutine resumes on its own executor and no
// I/O thread ever waits for an fsync.
#pragma once

#include <asio/awaitable.hpp>

#include "storage/writer.hpp"

namespace aviary::service {

// `op` is taken from the caller (moved to the writer); pass a named object.
asio::awaitable<Status> commit(storage::Writer& writer, storage::Writer::Op& op);

}  // namespace aviary::service
