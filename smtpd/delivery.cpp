// delivery.cpp - see delivery.hpp.
#include "smtpd/delivery.hpp"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <ctime>
#include <random>

#include "common/address.hpp"
#include "common/header.hpp"
#include "relay/dsn.hpp"
#include "storage/blob.hpp"
#include "storage/generated.hpp"
#include "storage/mailbox.hpp"
#include "storage/queue.hpp"
#include "storage/resolve.hpp"

namespace aviary::smtpd {

std::string received_header(const TraceInfo& t) {
  // Received: from helo ([ip])
  //         by host (Aviary) with ESMTPS (TLSv1.3 cipher) id ID
  //         for <rcpt>; date
  // RFC 5321 §4.1.3: an IPv6 address literal carries its tag.
  std::string literal = t.peer.find(':') != std::string::npos ? "[IPv6:" + t.peer + "]" : "[" + t.peer + "]";
  std::string h = "Received: from " + t.helo + " (" + literal + ")\r\n";
  h += "\tby " + t.hostname + " (Aviary) with " + t.protocol;
  if (!t.tls.empty()) h += " (" + t.tls + ")";
  h += " id " + t.id;
  if (!t.for_recipient.empty()) h += "\r\n\tfor <" + t.for_recipient + ">";
  h += "; " + header::rfc5322_date(t.when) + "\r\n";
  return h;
}

namespace {

// The bounce for the local recipients whose mailbox was full at commit
// (RFC 3463 X.2.2); none to the null sender (RFC 5321 §6.1).
void bounce_full_mailboxes(storage::WriteTxn& txn, const Delivery& d, const std::vector<std::string>& full) {
  if (d.sender.empty()) return;
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  relay::BounceFacts facts{d.hostname.empty() ? "localhost" : d.hostname, d.sender, d.id, header::new_message_id(), d.arrival, now, {}};
  for (const auto& user : full) facts.recipients.push_back(relay::FailedRecipient{user, "5.2.2", "552 5.2.2 Mailbox full", false, ""});
  std::string original = d.header + d.body->head(1 << 20);
  std::string dsn = relay::build_dsn(facts, header::section(original, 1 << 20));
  storage::deliver_generated(txn, dsn, d.sender, now, facts.bounce_id);
}

}  // namespace

storage::Writer::Op make_delivery_op(std::shared_ptr<const Delivery> d) {
  return [d](storage::WriteTxn& txn) -> Status {
    std::uint64_t size = d->header.size() + d->body->size();
    std::uint64_t blob = storage::put_blob(txn, size, [&](std::span<char> dst) {
      std::memcpy(dst.data(), d->header.data(), d->header.size());
      d->body->copy_to(dst.subspan(d->header.size()));
    });
    std::size_t references = 0;
    std::vector<std::string> full;
    std::string return_path = "Return-Path: <" + d->sender + ">\r\n";
    for (const auto& user : d->local) {
      // Checked again here, where concurrent deliveries are serialized; like
      // Dovecot's grace, the message that crosses the line is delivered.
      auto uid = storage::append_message(txn, user, blob, return_path + "Delivered-To: " + user + "\r\n", d->arrival,
                                         storage::QuotaCheck::grace);
      if (uid) {
        ++references;
      } else if (uid.error().code == Errc::over_quota) {
        full.push_back(user);
      } else if (uid.error().code != Errc::not_found) {
        return uid.error();
      }  // a user deleted since RCPT simply gets nothing
    }
    if (!d->remote.empty()) {
      storage::enqueue(txn, d->sender, d->remote, blob, d->arrival, d->id, d->body_flags);
      ++references;
    }
    if (references == 0 && !full.empty()) return Error{Errc::over_quota, "mailbox " + full.front() + " is full"};
    if (references == 0) return Error{Errc::not_found, "no recipient is left"};
    if (!full.empty()) bounce_full_mailboxes(txn, *d, full);
    return {};
  };
}

}  // namespace aviary::smtpd
