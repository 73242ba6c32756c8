// resolve.hpp - recipient resolution: from an envelope address to mailboxes.
//
// Order per address: an alias of that exact address, the user, the user or
// alias of the address without its "+tag", then the domain's catch-all.
// Aliases expand recursively (depth limit, loop detection); targets outside
// the hosted domains are remote recipients; duplicates are removed.
#pragma once

#include <string>
#include <vector>

#include "common/address.hpp"
#include "storage/records.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

inline constexpr int max_alias_depth = 10;

Resolution resolve_recipient(const Txn& txn, const Address& recipient, CatchAll catch_all = CatchAll::use);

}  // namespace aviary::storage
