// directory.hpp - hosted domains, users and aliases.
//
// Names are looked up by their canonical form (common/address.hpp): domains
// as lowercase A-labels, local parts ASCII-folded. An alias source with an
// empty local part is the domain's catch-all ("@domain").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/result.hpp"
#include "storage/records.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

// Domains.
Status add_domain(WriteTxn& txn, std::string_view domain);
// Fails with has_users unless force; with force removes the domain's users
// (and their mail) and aliases too.
Status del_domain(WriteTxn& txn, std::string_view domain, bool force);
bool is_hosted(const Txn& txn, std::string_view domain);
std::optional<Domain> find_domain(const Txn& txn, std::string_view domain);
std::vector<Domain> list_domains(const Txn& txn);

// Users.
Result<User> add_user(WriteTxn& txn, const Address& address, std::string password_hash,
                      std::uint64_t quota);
std::optional<User> find_user(const Txn& txn, const Address& address);
std::optional<User> find_user(const Txn& txn, std::string_view address_key);
Status set_password(WriteTxn& txn, const Address& address, std::string password_hash);
Status set_quota(WriteTxn& txn, const Address& address, std::uint64_t quota);
// Removes the user and every message in the mailbox.
Status del_user(WriteTxn& txn, const Address& address);
// Every user, or those of one domain.
std::vector<User> list_users(const Txn& txn, std::optional<std::string_view> domain = {});
// Rewrites a user record (mailbox.cpp keeps usage and UIDs with it).
void store_user(WriteTxn& txn, const User& user);

// Aliases. add_alias merges new targets into an existing alias and fails with
// alias_loop if the result would expand into itself or nest too deep.
Status add_alias(WriteTxn& txn, const Address& source, const std::vector<Address>& targets);
Status del_alias(WriteTxn& txn, const Address& source);
std::optional<Alias> find_alias(const Txn& txn, const Address& source);
// By canonical parts; an empty local part is the catch-all.
std::optional<Alias> find_alias(const Txn& txn, std::string_view domain, std::string_view folded_local);
std::vector<Alias> list_aliases(const Txn& txn, std::optional<std::string_view> domain = {});

}  // namespace aviary::storage
