// mailbox.cpp - a user's messages (see mailbox.hpp).
#include "storage/lmdb/mailbox.hpp"

#include <algorithm>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/codec.hpp"
#include "storage/lmdb/directory.hpp"

namespace aviary::storage {
namespace {

struct MessageRecord {
  std::uint64_t blob_id = 0;
  std::uint64_t size = 0;
  std::int64_t arrival = 0;
  std::string prefix;
};

std::string message_key(std::uint64_t user_id, std::uint32_t uid) { return be64(user_id) + be32(uid); }

std::string encode(const MessageRecord& m) {
  return Encoder().u8(record_v1).u64(m.blob_id).u64(m.size).i64(m.arrival).str(m.prefix).take();
}

// The record without copying its prefix: what view_message hands out.
struct MessageHeader {
  std::uint64_t blob_id = 0;
  std::uint64_t size = 0;
  std::int64_t arrival = 0;
  std::string_view prefix;
};

MessageHeader decode_view(std::string_view raw) {
  Decoder in(raw, "message");
  in.version(record_v1);
  MessageHeader m;
  m.blob_id = in.u64();
  m.size = in.u64();
  m.arrival = in.i64();
  std::uint32_t n = in.u32();
  std::size_t used = 1 + 8 + 8 + 8 + 4;
  if (raw.size() < used + n) throw Failure(Errc::storage, "corrupt message record (truncated)");
  m.prefix = raw.substr(used, n);
  return m;
}

std::string uidl(std::uint64_t user_id, std::uint32_t uid) {
  return std::to_string(user_id) + "." + std::to_string(uid);
}

Error no_user(std::string_view address_key) {
  return Error{Errc::not_found, "unknown user " + std::string(address_key)};
}

}  // namespace

Result<std::uint32_t> append_message(WriteTxn& txn, std::string_view address_key, std::uint64_t blob_id,
                                     std::string_view prefix, std::int64_t arrival, QuotaCheck quota) {
  auto user = find_user(txn, address_key);
  if (!user) return no_user(address_key);
  auto body_size = blob_size(txn, blob_id);
  if (!body_size) return Error{Errc::not_found, "no blob " + std::to_string(blob_id)};
  std::uint64_t size = prefix.size() + *body_size;
  bool refused = user->quota != 0 && (quota == QuotaCheck::enforce ? user->usage + size > user->quota
                                       : quota == QuotaCheck::grace && user->usage >= user->quota);
  if (refused) return Error{Errc::over_quota, "mailbox " + user->address + " is over quota"};
  std::uint32_t uid = user->next_uid++;
  txn.put(Table::mailboxes, message_key(user->id, uid), encode(MessageRecord{blob_id, size, arrival, std::string(prefix)}));
  ref_blob(txn, blob_id);
  user->usage += size;
  user->messages += 1;
  store_user(txn, *user);
  return uid;
}

bool fits_quota(const Txn& txn, std::string_view address_key, std::uint64_t size) {
  auto user = find_user(txn, address_key);
  return user && (user->quota == 0 || user->usage + size <= user->quota);
}

std::vector<MessageInfo> list_messages(const Txn& txn, std::string_view address_key) {
  auto user = find_user(txn, address_key);
  if (!user) return {};
  return list_messages(txn, user->id, user->messages);
}

std::vector<MessageInfo> list_messages(const Txn& txn, std::uint64_t user_id, std::size_t expected) {
  std::vector<MessageInfo> out;
  out.reserve(expected);
  txn.scan_prefix(Table::mailboxes, be64(user_id), [&](std::string_view key, std::string_view raw) {
    // A view, not a copy: the prefix is not needed here (one allocation
    // less per message in a 100k-message maildrop).
    MessageHeader m = decode_view(raw);
    std::uint32_t uid = read_be32(key.substr(8));
    out.push_back(MessageInfo{uid, m.size, m.arrival, uidl(user_id, uid), m.blob_id});
  });
  return out;
}

std::optional<MailboxStat> mailbox_stat(const Txn& txn, std::string_view address_key) {
  auto user = find_user(txn, address_key);
  if (!user) return std::nullopt;
  return MailboxStat{user->messages, user->usage, user->quota};
}

std::optional<std::string> read_message(const Txn& txn, std::string_view address_key, std::uint32_t uid) {
  auto user = find_user(txn, address_key);
  if (!user) return std::nullopt;
  auto view = view_message(txn, user->id, uid);
  if (!view) return std::nullopt;
  std::string out;
  out.reserve(view->size());
  out += view->prefix;
  out += view->body;
  return out;
}

std::optional<MessageView> view_message(const Txn& txn, std::uint64_t user_id, std::uint32_t uid) {
  auto raw = txn.get(Table::mailboxes, message_key(user_id, uid));
  if (!raw) return std::nullopt;
  MessageHeader m = decode_view(*raw);
  auto body = view_blob(txn, m.blob_id);
  if (!body) throw Failure(Errc::storage, "corrupt store: message body " + std::to_string(m.blob_id) + " is missing");
  return MessageView{m.prefix, *body};
}

Status delete_messages(WriteTxn& txn, std::string_view address_key, std::span<const std::uint32_t> uids) {
  auto user = find_user(txn, address_key);
  if (!user) return no_user(address_key);
  std::vector<std::uint32_t> unique(uids.begin(), uids.end());
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> records;  // blob id, size
  records.reserve(unique.size());
  for (std::uint32_t uid : unique) {
    auto raw = txn.get(Table::mailboxes, message_key(user->id, uid));
    if (!raw) return Error{Errc::not_found, "no message " + std::to_string(uid) + " in " + user->address};
    MessageHeader m = decode_view(*raw);
    records.emplace_back(m.blob_id, m.size);
  }
  for (std::size_t i = 0; i < unique.size(); ++i) {
    txn.erase(Table::mailboxes, message_key(user->id, unique[i]));
    unref_blob(txn, records[i].first);
    user->usage -= std::min(user->usage, records[i].second);
    user->messages -= std::min<std::uint64_t>(user->messages, 1);
  }
  store_user(txn, *user);
  return {};
}

std::size_t delete_present(WriteTxn& txn, std::string_view address_key, std::uint64_t user_id,
                           std::span<const std::uint32_t> uids) {
  auto user = find_user(txn, address_key);
  if (!user || user->id != user_id) return 0;  // not this user's mailbox any more
  std::size_t deleted = 0;
  for (std::uint32_t uid : uids) {
    std::string key = message_key(user_id, uid);
    auto raw = txn.get(Table::mailboxes, key);
    if (!raw) continue;
    MessageHeader m = decode_view(*raw);
    std::uint64_t blob_id = m.blob_id;
    std::uint64_t size = m.size;
    txn.erase(Table::mailboxes, key);  // `raw` dies here
    unref_blob(txn, blob_id);
    user->usage -= std::min(user->usage, size);
    user->messages -= std::min<std::uint64_t>(user->messages, 1);
    ++deleted;
  }
  if (deleted > 0) store_user(txn, *user);
  return deleted;
}

void delete_mailbox(WriteTxn& txn, std::uint64_t user_id) {
  std::vector<std::pair<std::string, std::uint64_t>> doomed;
  txn.scan_prefix(Table::mailboxes, be64(user_id), [&](std::string_view key, std::string_view raw) {
    doomed.emplace_back(std::string(key), decode_view(raw).blob_id);
  });
  for (const auto& [key, blob_id] : doomed) {
    txn.erase(Table::mailboxes, key);
    unref_blob(txn, blob_id);
  }
}

}  // namespace aviary::storage
