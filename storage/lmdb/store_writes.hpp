// store_writes.hpp - the Writer operations behind LmdbStore's larger writes:
// a delivery, settling a queue entry, POP3's UPDATE.
#pragma once

#include <cstddef>
#include <memory>

#include "storage/lmdb/writer.hpp"
#include "storage/store.hpp"

namespace aviary::storage {

// The body once, a copy in each local mailbox, the remote recipients
// queued, and the bounce for mailboxes full at commit (store.hpp, Delivery).
Writer::Op delivery_op(std::shared_ptr<const Delivery> delivery);

// Runs `decide` on the committed entry; `copies` gets how many copies of the
// bounce were stored. A missing entry changes nothing.
Writer::Op settle_op(std::uint64_t id, QueueDecision decide, std::shared_ptr<std::size_t> copies);

}  // namespace aviary::storage
