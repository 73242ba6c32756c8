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
#include "storage/txn.hpp"

namespace aviary::storage {

inline constexpr int max_alias_depth = 10;

struct Resolution {
  enum class Outcome { deliver, not_hosted, unknown_user, loop };
  Outcome outcome = Outcome::unknown_user;
  std::vector<std::string> local;   // canonical user addresses, each once
  std::vector<std::string> remote;  // canonical addresses outside our domains, each once
  std::string detail;               // why, for loop and unknown_user
};

// Whether a domain's catch-all takes addresses nothing else matches. Sender
// ownership on submission ignores it: with "@example.test -> alice", alice
// owns every address of the domain as a recipient, but may not send as
// ceo@example.test.
enum class CatchAll { use, ignore };

Resolution resolve_recipient(const Txn& txn, const Address& recipient, CatchAll catch_all = CatchAll::use);

}  // namespace aviary::storage
