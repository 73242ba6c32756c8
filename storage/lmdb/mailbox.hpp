// mailbox.hpp - a user's messages: append, list, read, delete, quota, UIDs.
//
// A message in a mailbox is a per-copy header prefix (Return-Path,
// Delivered-To) plus a shared blob. UIDs grow per user and never repeat;
// the UIDL "<user id>.<uid>" is unique across the store forever.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "storage/records.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

// How append_message treats the quota. `enforce`: the message must fit.
// `grace`: refused only when the mailbox is already at or over its quota, so
// the message that crosses the line lands and the next one is refused (as
// Dovecot's quota grace); for the delivery commit, where the message can no
// longer be made smaller. `skip`: not checked (bounces).
enum class QuotaCheck { enforce, grace, skip };

// Appends a copy of blob `blob_id` with its own header prefix. Fails with
// not_found (no such user or blob) or, when checked, over_quota; takes one
// blob reference.
Result<std::uint32_t> append_message(WriteTxn& txn, std::string_view address_key,
                                     std::uint64_t blob_id, std::string_view prefix,
                                     std::int64_t arrival, QuotaCheck quota = QuotaCheck::enforce);

// True if `size` more bytes fit in the user's quota.
bool fits_quota(const Txn& txn, std::string_view address_key, std::uint64_t size);

std::vector<MessageInfo> list_messages(const Txn& txn, std::string_view address_key);
// The messages of user `user_id` (keyed by id: a user deleted and created
// again under the same address is another mailbox); `expected` is how many
// to make room for (the user record's count), so one allocation suffices.
std::vector<MessageInfo> list_messages(const Txn& txn, std::uint64_t user_id, std::size_t expected = 0);
std::optional<MailboxStat> mailbox_stat(const Txn& txn, std::string_view address_key);
// The whole message: prefix followed by the body.
std::optional<std::string> read_message(const Txn& txn, std::string_view address_key,
                                        std::uint32_t uid);
// The two parts of a message as views into the map, valid until the
// transaction ends: for sending a large message piece by piece.
struct MessageView {
  std::string_view prefix;
  std::string_view body;
  std::uint64_t size() const { return prefix.size() + body.size(); }
};
std::optional<MessageView> view_message(const Txn& txn, std::uint64_t user_id, std::uint32_t uid);

// Deletes all of `uids` or, if one is missing, none (not_found).
Status delete_messages(WriteTxn& txn, std::string_view address_key,
                       std::span<const std::uint32_t> uids);
// The POP3 UPDATE state: deletes those of `uids` (sorted) still in the mailbox
// of user `user_id`, looking each up by key (no listing); an administrator
// may have removed some meanwhile. Deletes nothing if `address_key` no
// longer belongs to that user (deleted, perhaps created again). Returns how
// many it deleted.
std::size_t delete_present(WriteTxn& txn, std::string_view address_key, std::uint64_t user_id,
                           std::span<const std::uint32_t> uids);
// Deletes every message of the user (used when the user goes).
void delete_mailbox(WriteTxn& txn, std::uint64_t user_id);

}  // namespace aviary::storage
