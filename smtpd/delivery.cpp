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
#include "smtpd/dsn.hpp"
#include "storage/blob.hpp"
#include "storage/mailbox.hpp"
#include "storage/queue.hpp"
#include "storage/resolve.hpp"

namespace aviary::smtpd {

std::string rfc5322_date(std::int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return out;
}

std::string new_message_id() {
  // Time-ordered and unique across processes: seconds, then 64 random bits.
  thread_local std::mt19937_64 random{std::random_device{}() ^ static_cast<std::uint64_t>(::time(nullptr))};
  static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
  std::uint64_t when = static_cast<std::uint64_t>(::time(nullptr));
  std::uint64_t bits = random();
  std::string id;
  for (int shift = 35; shift >= 0; shift -= 5) id += digits[(when >> shift) & 31];
  for (int i = 0; i < 13; ++i, bits >>= 5) id += digits[bits & 31];
  return id;
}

namespace {

// True if the header section has a field named `name` (RFC 5322 §2.2,
// field names compared without regard to case).
bool has_field(std::string_view headers, std::string_view name) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find('\n', pos);
    std::string_view line = headers.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.empty() || line == "\r") return false;  // end of the header section
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (std::size_t i = 0; i < name.size() && same; ++i) {
        same = std::tolower(static_cast<unsigned char>(line[i])) == std::tolower(static_cast<unsigned char>(name[i]));
      }
      if (same) return true;
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace

std::string missing_origin_headers(std::string_view message_start, const std::string& id, const std::string& hostname,
                                   std::int64_t when) {
  std::string out;
  if (!has_field(message_start, "Message-ID")) out += "Message-ID: <" + id + "@" + hostname + ">\r\n";
  if (!has_field(message_start, "Date")) out += "Date: " + rfc5322_date(when) + "\r\n";
  return out;
}

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
  h += "; " + rfc5322_date(t.when) + "\r\n";
  return h;
}

namespace {

// The bounce for the local recipients whose mailbox was full at commit
// (RFC 3463 X.2.2); none to the null sender (RFC 5321 §6.1).
void bounce_full_mailboxes(storage::WriteTxn& txn, const Delivery& d, const std::vector<std::string>& full) {
  if (d.sender.empty()) return;
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  BounceFacts facts{d.hostname.empty() ? "localhost" : d.hostname, d.sender, d.id, new_message_id(), d.arrival, now, {}};
  for (const auto& user : full) facts.recipients.push_back({user, "5.2.2", "552 5.2.2 Mailbox full", false, ""});
  std::string original = d.header + d.body->head(1 << 20);
  std::string dsn = build_dsn(facts, header_section(original, 1 << 20));
  deliver_generated(txn, dsn, d.sender, now, facts.bounce_id);
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

std::size_t deliver_generated(storage::WriteTxn& txn, std::string_view message, const std::string& to,
                              std::int64_t now, const std::string& id) {
  auto address = parse_address(to);
  if (!address) return 0;
  storage::Resolution where = storage::resolve_recipient(txn, *address);
  std::vector<std::string> remote;
  if (where.outcome == storage::Resolution::Outcome::not_hosted) {
    remote.push_back(to);
  } else if (where.outcome == storage::Resolution::Outcome::deliver) {
    remote = where.remote;
  } else {
    return 0;
  }
  std::uint64_t blob = storage::put_blob(txn, message);
  std::size_t copies = 0;
  for (const auto& user : where.local) {
    auto uid = storage::append_message(txn, user, blob, "Return-Path: <>\r\nDelivered-To: " + user + "\r\n", now,
                                       storage::QuotaCheck::skip);
    if (uid) ++copies;
  }
  if (!remote.empty()) {
    std::uint8_t flags = is_ascii(message) ? 0 : storage::body_8bit;
    for (const auto& r : remote)
      if (!is_ascii(r)) flags |= storage::body_smtputf8;
    storage::enqueue(txn, "", remote, blob, now, id, flags);
    ++copies;
  }
  if (copies == 0) {
    // Nothing took it: one reference and its release delete the blob.
    storage::ref_blob(txn, blob);
    storage::unref_blob(txn, blob);
  }
  return copies;
}

std::size_t received_count(std::string_view message) {
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t end = message.find('\n', pos);
    std::string_view line = message.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (line.empty() || line == "\r") break;  // end of the header section
    if (line.size() >= 9 && std::equal(line.begin(), line.begin() + 9, "received:",
                                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; }))
      ++count;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return count;
}

}  // namespace aviary::smtpd
