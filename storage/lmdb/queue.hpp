// queue.hpp - the durable outbound queue.
//
// One entry per accepted message with remote recipients: the sender, a
// reference to the body blob, and per recipient its own status, so that each
// recipient is delivered at most once whatever happens to the others. The
// queue_due index orders entries by their next attempt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "storage/records.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

// Queues `recipients` for the blob (takes one reference); returns the id.
std::uint64_t enqueue(WriteTxn& txn, std::string_view sender,
                      const std::vector<std::string>& recipients, std::uint64_t blob_id,
                      std::int64_t now, std::string_view message_id = {}, std::uint8_t flags = 0);
std::optional<QueueEntry> find_queued(const Txn& txn, std::uint64_t id);
// The same for scans that must go on past a record this binary cannot
// decode (corruption, a format it does not know): nullopt with `why` set
// instead of a throw. LMDB failures still throw.
std::optional<QueueEntry> find_queued(const Txn& txn, std::uint64_t id, std::string& why);
// Ids of entries due at or before `now`, oldest due first.
std::vector<std::uint64_t> due_entries(const Txn& txn, std::int64_t now, std::size_t limit);
// Rewrites an entry (status, attempts, next attempt) and its place in the index.
Status update_queued(WriteTxn& txn, const QueueEntry& entry);
// Removes an entry and drops its blob reference.
Status remove_queued(WriteTxn& txn, std::uint64_t id);
// Every entry that can be decoded; the ids of those that cannot go to
// `corrupt` if given (one bad record must not hide the others).
std::vector<QueueEntry> list_queue(const Txn& txn, std::vector<std::uint64_t>* corrupt = nullptr);
QueueStats queue_stats(const Txn& txn);

// Makes every entry due now (aviaryctl queue flush); returns how many.
std::size_t reschedule_all(WriteTxn& txn, std::int64_t now);

}  // namespace aviary::storage
