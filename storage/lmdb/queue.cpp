// queue.cpp - the durable outbound queue (see queue.hpp).
#include "storage/lmdb/queue.hpp"

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/codec.hpp"

namespace aviary::storage {
namespace {

// 2: message id and body flags.
constexpr std::uint8_t queue_record_version = 2;

std::string due_key(std::int64_t when, std::uint64_t id) {
  return be64(static_cast<std::uint64_t>(when < 0 ? 0 : when)) + be64(id);
}

std::string encode(const QueueEntry& e) {
  Encoder out;
  out.u8(queue_record_version).str(e.message_id).str(e.sender).u64(e.blob_id).i64(e.created).i64(e.next_attempt);
  out.u32(e.attempts).u8(e.flags);
  out.u32(static_cast<std::uint32_t>(e.recipients.size()));
  for (const auto& r : e.recipients) out.str(r.address).u8(static_cast<std::uint8_t>(r.status)).str(r.diagnostic);
  return out.take();
}

QueueEntry decode(std::uint64_t id, std::string_view raw) {
  Decoder in(raw, "queue");
  in.version(queue_record_version);
  QueueEntry e;
  e.id = id;
  e.message_id = in.str();
  e.sender = in.str();
  e.blob_id = in.u64();
  e.created = in.i64();
  e.next_attempt = in.i64();
  e.attempts = in.u32();
  e.flags = in.u8();
  std::uint32_t n = in.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    QueueRecipient r;
    r.address = in.str();
    std::uint8_t status = in.u8();
    if (status > static_cast<std::uint8_t>(RecipientStatus::failed)) {
      throw Failure(Errc::storage, "corrupt queue record " + std::to_string(id));
    }
    r.status = static_cast<RecipientStatus>(status);
    r.diagnostic = in.str();
    e.recipients.push_back(std::move(r));
  }
  return e;
}

// decode, for scans: a record that cannot be decoded is nullopt, not a throw.
std::optional<QueueEntry> try_decode(std::uint64_t id, std::string_view raw, std::string* why = nullptr) {
  try {
    return decode(id, raw);
  } catch (const Failure& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
}

}  // namespace

std::uint64_t enqueue(WriteTxn& txn, std::string_view sender, const std::vector<std::string>& recipients,
                      std::uint64_t blob_id, std::int64_t now, std::string_view message_id, std::uint8_t flags) {
  QueueEntry e;
  e.id = txn.next_id(meta_next_queue_id);
  e.message_id = std::string(message_id);
  e.flags = flags;
  e.sender = std::string(sender);
  e.blob_id = blob_id;
  e.created = now;
  e.next_attempt = now;
  for (const auto& r : recipients) e.recipients.push_back(QueueRecipient{r, RecipientStatus::pending, {}});
  ref_blob(txn, blob_id);
  txn.put(Table::queue, be64(e.id), encode(e));
  txn.put(Table::queue_due, due_key(e.next_attempt, e.id), {});
  return e.id;
}

std::optional<QueueEntry> find_queued(const Txn& txn, std::uint64_t id) {
  auto raw = txn.get(Table::queue, be64(id));
  if (!raw) return std::nullopt;
  return decode(id, *raw);
}

std::optional<QueueEntry> find_queued(const Txn& txn, std::uint64_t id, std::string& why) {
  auto raw = txn.get(Table::queue, be64(id));
  if (!raw) return std::nullopt;
  return try_decode(id, *raw, &why);
}

std::vector<std::uint64_t> due_entries(const Txn& txn, std::int64_t now, std::size_t limit) {
  std::vector<std::uint64_t> out;
  txn.scan(Table::queue_due, {}, [&](std::string_view key, std::string_view) {
    if (out.size() >= limit || static_cast<std::int64_t>(read_be64(key)) > now) return false;
    out.push_back(read_be64(key.substr(8)));
    return true;
  });
  return out;
}

Status update_queued(WriteTxn& txn, const QueueEntry& entry) {
  auto old = find_queued(txn, entry.id);
  if (!old) return Error{Errc::not_found, "no queue entry " + std::to_string(entry.id)};
  if (old->blob_id != entry.blob_id) return Error{Errc::invalid, "a queue entry keeps its message"};
  txn.erase(Table::queue_due, due_key(old->next_attempt, entry.id));
  txn.put(Table::queue, be64(entry.id), encode(entry));
  txn.put(Table::queue_due, due_key(entry.next_attempt, entry.id), {});
  return {};
}

Status remove_queued(WriteTxn& txn, std::uint64_t id) {
  auto old = find_queued(txn, id);
  if (!old) return Error{Errc::not_found, "no queue entry " + std::to_string(id)};
  txn.erase(Table::queue_due, due_key(old->next_attempt, id));
  txn.erase(Table::queue, be64(id));
  unref_blob(txn, old->blob_id);
  return {};
}

std::vector<QueueEntry> list_queue(const Txn& txn, std::vector<std::uint64_t>* corrupt) {
  std::vector<QueueEntry> out;
  txn.scan(Table::queue, {}, [&](std::string_view key, std::string_view raw) {
    if (auto e = try_decode(read_be64(key), raw)) out.push_back(std::move(*e));
    else if (corrupt) corrupt->push_back(read_be64(key));
    return true;
  });
  return out;
}

QueueStats queue_stats(const Txn& txn) {
  QueueStats stats;
  stats.messages = txn.count(Table::queue);
  // Ids grow with time, so the first entry is the oldest.
  txn.scan(Table::queue, {}, [&](std::string_view key, std::string_view raw) {
    auto e = try_decode(read_be64(key), raw);
    if (e) stats.oldest_created = e->created;
    return !e;  // past an undecodable record to the first readable one
  });
  return stats;
}

std::size_t reschedule_all(WriteTxn& txn, std::int64_t now) {
  auto entries = list_queue(txn);
  for (auto& e : entries) {
    e.next_attempt = now;
    if (auto s = update_queued(txn, e); !s) throw Failure(Errc::storage, s.error().message);
  }
  return entries.size();
}

}  // namespace aviary::storage
