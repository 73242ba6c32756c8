// blob.hpp - message bodies stored once, shared by reference count.
//
// A body delivered to many mailboxes and queued for remote recipients exists
// once; every mailbox entry and queue entry holds one reference, and the body
// goes with its last reference. The count lives apart from the bytes so that
// changing it never rewrites a large value.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

// A new blob with no references yet: the same transaction must reference it.
std::uint64_t put_blob(WriteTxn& txn, std::string_view data);
// The same, filled in place (e.g. from a spill file) without an extra copy.
std::uint64_t put_blob(WriteTxn& txn, std::uint64_t size,
                       const std::function<void(std::span<char>)>& fill);

void ref_blob(WriteTxn& txn, std::uint64_t id);
// Drops one reference; the blob is deleted with the last.
void unref_blob(WriteTxn& txn, std::uint64_t id);

std::optional<std::string> read_blob(const Txn& txn, std::uint64_t id);
// A view into the map, valid until the transaction ends.
std::optional<std::string_view> view_blob(const Txn& txn, std::uint64_t id);
// Tells the kernel this process is done with these mapped bytes, so that
// streaming a large message does not leave it all in the daemon's RSS. The
// pages stay in the page cache; a later read maps them in again.
void release_mapped(std::string_view bytes);

std::optional<std::uint32_t> blob_refcount(const Txn& txn, std::uint64_t id);
std::optional<std::uint64_t> blob_size(const Txn& txn, std::uint64_t id);

}  // namespace aviary::storage
