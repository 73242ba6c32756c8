// store_writes.cpp - see store_writes.hpp.
#include "storage/lmdb/store_writes.hpp"

#include <cstring>
#include <ctime>

#include "common/header.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/generated.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"

namespace aviary::storage {

Writer::Op delivery_op(std::shared_ptr<const Delivery> d) {
  return [d](WriteTxn& txn) -> Status {
    std::uint64_t blob = put_blob(txn, d->size, [&](std::span<char> out) { d->fill(out); });
    std::size_t references = 0;
    std::vector<std::string> full;
    std::string return_path = "Return-Path: <" + d->sender + ">\r\n";
    for (const auto& user : d->local) {
      // Checked again here, where concurrent deliveries are serialized; like
      // Dovecot's grace, the message that crosses the line is delivered.
      auto uid = append_message(txn, user, blob, return_path + "Delivered-To: " + user + "\r\n", d->arrival,
                                QuotaCheck::grace);
      if (uid) {
        ++references;
      } else if (uid.error().code == Errc::over_quota) {
        full.push_back(user);
      } else if (uid.error().code != Errc::not_found) {
        return uid.error();
      }  // a user deleted since RCPT simply gets nothing
    }
    if (!d->remote.empty()) {
      enqueue(txn, d->sender, d->remote, blob, d->arrival, d->id, d->body_flags);
      ++references;
    }
    if (references == 0 && !full.empty()) return Error{Errc::over_quota, "mailbox " + full.front() + " is full"};
    if (references == 0) return Error{Errc::not_found, "no recipient is left"};
    if (!full.empty() && d->bounce_for_full) {
      std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
      std::string bounce_id = header::new_message_id();
      std::string bounce = d->bounce_for_full(full, now, bounce_id);
      if (!bounce.empty()) deliver_generated(txn, bounce, d->sender, now, bounce_id);
    }
    return {};
  };
}

Writer::Op settle_op(std::uint64_t id, QueueDecision decide, std::shared_ptr<std::size_t> copies) {
  return [id, decide = std::move(decide), copies](WriteTxn& txn) -> Status {
    *copies = 0;
    auto entry = find_queued(txn, id);
    if (!entry) return {};
    QueueChange change = decide(*entry);
    Status changed = change.action == QueueChange::Action::remove ? remove_queued(txn, id) : update_queued(txn, *entry);
    if (!changed) return changed;
    if (change.bounce) {
      const Generated& b = *change.bounce;
      *copies = deliver_generated(txn, b.message, b.to, b.now, b.id);
    }
    return {};
  };
}

}  // namespace aviary::storage
