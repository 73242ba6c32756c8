// directory.cpp - hosted domains, users and aliases (see directory.hpp).
#include "storage/lmdb/directory.hpp"

#include <algorithm>
#include <ctime>

#include "storage/lmdb/codec.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/resolve.hpp"

namespace aviary::storage {
namespace {

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// "local@domain" -> (domain, local); the domain never contains '@'.
std::pair<std::string_view, std::string_view> split_key(std::string_view address_key) {
  auto at = address_key.rfind('@');
  if (at == std::string_view::npos) return {address_key, {}};
  return {address_key.substr(at + 1), address_key.substr(0, at)};
}

std::string user_key(std::string_view address_key) {
  auto [domain, local] = split_key(address_key);
  return name_key(domain, local);
}

std::string alias_key(const Address& source) { return name_key(source.domain, fold_local(source.local)); }

std::string source_text(const Address& source) {
  return source.local.empty() ? "@" + source.domain : source.key();
}

std::string encode_domain(const Domain& d) { return Encoder().u8(record_v1).i64(d.created).take(); }

Domain decode_domain(std::string_view name, std::string_view raw) {
  Decoder in(raw, "domain");
  in.version(record_v1);
  Domain d;
  d.name = std::string(name);
  d.created = in.i64();
  return d;
}

std::string encode_user(const User& u) {
  return Encoder()
      .u8(record_v1)
      .str(u.address)
      .u64(u.id)
      .str(u.password_hash)
      .u64(u.quota)
      .u64(u.usage)
      .u64(u.messages)
      .u32(u.next_uid)
      .i64(u.created)
      .take();
}

User decode_user(std::string_view raw) {
  Decoder in(raw, "user");
  in.version(record_v1);
  User u;
  u.address = in.str();
  u.id = in.u64();
  u.password_hash = in.str();
  u.quota = in.u64();
  u.usage = in.u64();
  u.messages = in.u64();
  u.next_uid = in.u32();
  u.created = in.i64();
  return u;
}

std::string encode_alias(const Alias& a) { return Encoder().u8(record_v1).str(a.source).strs(a.targets).take(); }

Alias decode_alias(std::string_view raw) {
  Decoder in(raw, "alias");
  in.version(record_v1);
  Alias a;
  a.source = in.str();
  a.targets = in.strs();
  return a;
}

Error unknown_domain(std::string_view domain) {
  return Error{Errc::not_found, "unknown domain " + std::string(domain)};
}

Error unknown_user(const Address& address) {
  return Error{Errc::not_found, "unknown user " + address.key()};
}

}  // namespace

// Domains.

Status add_domain(WriteTxn& txn, std::string_view domain) {
  if (!txn.insert(Table::domains, domain, encode_domain(Domain{std::string(domain), now(), 0, 0}))) {
    return Error{Errc::exists, "domain " + std::string(domain) + " already exists"};
  }
  return {};
}

Status del_domain(WriteTxn& txn, std::string_view domain, bool force) {
  if (!is_hosted(txn, domain)) return unknown_domain(domain);
  auto users = list_users(txn, domain);
  if (!users.empty() && !force) {
    return Error{Errc::has_users, "domain " + std::string(domain) + " still has " +
                                      std::to_string(users.size()) +
                                      (users.size() == 1 ? " user" : " users") + " (use --force)"};
  }
  for (const auto& user : users) {
    delete_mailbox(txn, user.id);
    txn.erase(Table::users, user_key(user.address));
  }
  std::vector<std::string> alias_keys;
  txn.scan_prefix(Table::aliases, domain_prefix(domain),
                  [&](std::string_view key, std::string_view) { alias_keys.emplace_back(key); });
  for (const auto& key : alias_keys) txn.erase(Table::aliases, key);
  txn.erase(Table::domains, domain);
  return {};
}

bool is_hosted(const Txn& txn, std::string_view domain) { return txn.contains(Table::domains, domain); }

std::optional<Domain> find_domain(const Txn& txn, std::string_view domain) {
  auto raw = txn.get(Table::domains, domain);
  if (!raw) return std::nullopt;
  Domain d = decode_domain(domain, *raw);
  txn.scan_prefix(Table::users, domain_prefix(domain), [&](auto, auto) { ++d.users; });
  txn.scan_prefix(Table::aliases, domain_prefix(domain), [&](auto, auto) { ++d.aliases; });
  return d;
}

std::vector<Domain> list_domains(const Txn& txn) {
  std::vector<std::string> names;
  txn.scan(Table::domains, {}, [&](std::string_view key, std::string_view) {
    names.emplace_back(key);
    return true;
  });
  std::vector<Domain> out;
  for (const auto& name : names) out.push_back(*find_domain(txn, name));
  return out;
}

// Users.

Result<User> add_user(WriteTxn& txn, const Address& address, std::string password_hash, std::uint64_t quota) {
  if (!is_hosted(txn, address.domain)) return unknown_domain(address.domain);
  std::string key = user_key(address.key());
  if (txn.contains(Table::users, key)) {
    return Error{Errc::exists, "user " + address.key() + " already exists"};
  }
  User user;
  user.address = address.key();
  user.id = txn.next_id(meta_next_user_id);
  user.password_hash = std::move(password_hash);
  user.quota = quota;
  user.created = now();
  txn.put(Table::users, key, encode_user(user));
  return user;
}

std::optional<User> find_user(const Txn& txn, std::string_view address_key) {
  auto raw = txn.get(Table::users, user_key(address_key));
  if (!raw) return std::nullopt;
  return decode_user(*raw);
}

std::optional<User> find_user(const Txn& txn, const Address& address) { return find_user(txn, address.key()); }

void store_user(WriteTxn& txn, const User& user) { txn.put(Table::users, user_key(user.address), encode_user(user)); }

Status set_password(WriteTxn& txn, const Address& address, std::string password_hash) {
  auto user = find_user(txn, address);
  if (!user) return unknown_user(address);
  user->password_hash = std::move(password_hash);
  store_user(txn, *user);
  return {};
}

Status set_quota(WriteTxn& txn, const Address& address, std::uint64_t quota) {
  auto user = find_user(txn, address);
  if (!user) return unknown_user(address);
  user->quota = quota;
  store_user(txn, *user);
  return {};
}

Status del_user(WriteTxn& txn, const Address& address) {
  auto user = find_user(txn, address);
  if (!user) return unknown_user(address);
  delete_mailbox(txn, user->id);
  txn.erase(Table::users, user_key(user->address));
  return {};
}

std::vector<User> list_users(const Txn& txn, std::optional<std::string_view> domain) {
  std::vector<User> out;
  auto collect = [&](std::string_view, std::string_view raw) { out.push_back(decode_user(raw)); };
  txn.scan_prefix(Table::users, domain ? domain_prefix(*domain) : std::string(), collect);
  return out;
}

// Aliases.

Status add_alias(WriteTxn& txn, const Address& source, const std::vector<Address>& targets) {
  if (!is_hosted(txn, source.domain)) return unknown_domain(source.domain);
  if (targets.empty()) return Error{Errc::invalid, "an alias needs at least one target"};
  Alias alias = find_alias(txn, source).value_or(Alias{source_text(source), {}});
  for (const auto& target : targets) {
    std::string key = target.key();
    if (std::find(alias.targets.begin(), alias.targets.end(), key) == alias.targets.end()) {
      alias.targets.push_back(key);
    }
  }
  txn.put(Table::aliases, alias_key(source), encode_alias(alias));

  // Any cycle through the new edges passes through the source (or, for a
  // catch-all, through one of its targets): resolving those finds it.
  std::vector<Address> probes;
  if (!source.local.empty()) probes.push_back(source);
  for (const auto& target : targets) probes.push_back(target);
  for (const auto& probe : probes) {
    Resolution r = resolve_recipient(txn, probe);
    if (r.outcome == Resolution::Outcome::loop) {
      return Error{Errc::alias_loop, "alias loop: " + r.detail};
    }
  }
  return {};
}

Status del_alias(WriteTxn& txn, const Address& source) {
  if (!txn.erase(Table::aliases, alias_key(source))) {
    return Error{Errc::not_found, "no alias " + source_text(source)};
  }
  return {};
}

std::optional<Alias> find_alias(const Txn& txn, const Address& source) {
  return find_alias(txn, source.domain, fold_local(source.local));
}

std::optional<Alias> find_alias(const Txn& txn, std::string_view domain, std::string_view folded_local) {
  auto raw = txn.get(Table::aliases, name_key(domain, folded_local));
  if (!raw) return std::nullopt;
  return decode_alias(*raw);
}

std::vector<Alias> list_aliases(const Txn& txn, std::optional<std::string_view> domain) {
  std::vector<Alias> out;
  auto collect = [&](std::string_view, std::string_view raw) { out.push_back(decode_alias(raw)); };
  txn.scan_prefix(Table::aliases, domain ? domain_prefix(*domain) : std::string(), collect);
  return out;
}

}  // namespace aviary::storage
