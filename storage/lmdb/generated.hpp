// generated.hpp - storing a message Aviary wrote itself (a bounce).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

// Delivers a message Aviary wrote itself (a bounce) from the null sender to
// `to`, inside the caller's transaction: into the mailboxes it resolves to
// when hosted here, to the outbound queue otherwise. An address that does
// not resolve gets nothing (the caller logs it). Returns how many copies.
std::size_t deliver_generated(WriteTxn& txn, std::string_view message, const std::string& to,
                              std::int64_t now, const std::string& id);

}  // namespace aviary::storage
