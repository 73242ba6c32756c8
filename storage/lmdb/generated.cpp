// generated.cpp - see generated.hpp.
#include "storage/lmdb/generated.hpp"

#include "common/address.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"
#include "storage/lmdb/resolve.hpp"

namespace aviary::storage {

std::size_t deliver_generated(WriteTxn& txn, std::string_view message, const std::string& to,
                              std::int64_t now, const std::string& id) {
  auto address = parse_address(to);
  if (!address) return 0;
  Resolution where = resolve_recipient(txn, *address);
  std::vector<std::string> remote;
  if (where.outcome == Resolution::Outcome::not_hosted) {
    remote.push_back(to);
  } else if (where.outcome == Resolution::Outcome::deliver) {
    remote = where.remote;
  } else {
    return 0;
  }
  std::uint64_t blob = put_blob(txn, message);
  std::size_t copies = 0;
  for (const auto& user : where.local) {
    auto uid = append_message(txn, user, blob, "Return-Path: <>\r\nDelivered-To: " + user + "\r\n", now,
                                       QuotaCheck::skip);
    if (uid) ++copies;
  }
  if (!remote.empty()) {
    std::uint8_t flags = is_ascii(message) ? 0 : body_8bit;
    for (const auto& r : remote)
      if (!is_ascii(r)) flags |= body_smtputf8;
    enqueue(txn, "", remote, blob, now, id, flags);
    ++copies;
  }
  if (copies == 0) {
    // Nothing took it: one reference and its release delete the blob.
    ref_blob(txn, blob);
    unref_blob(txn, blob);
  }
  return copies;
}

}  // namespace aviary::storage
