// delivery.cpp - see delivery.hpp.
#include "smtpd/delivery.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "common/address.hpp"
#include "common/header.hpp"
#include "relay/dsn.hpp"

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
std::string bounce_for_full(const Delivery& d, const std::vector<std::string>& full, std::int64_t now,
                            const std::string& bounce_id) {
  if (d.sender.empty()) return "";
  relay::BounceFacts facts{d.hostname.empty() ? "localhost" : d.hostname, d.sender, d.id, bounce_id, d.arrival, now, {}};
  for (const auto& user : full) facts.recipients.push_back(relay::FailedRecipient{user, "5.2.2", "552 5.2.2 Mailbox full", false, ""});
  std::string original = d.header + d.body->head(1 << 20);
  return relay::build_dsn(facts, header::section(original, 1 << 20));
}

}  // namespace

std::shared_ptr<const storage::Delivery> storage_delivery(std::shared_ptr<const Delivery> d) {
  auto request = std::make_shared<storage::Delivery>();
  request->id = d->id;
  request->sender = d->sender;
  request->local = d->local;
  request->remote = d->remote;
  request->size = d->header.size() + d->body->size();
  request->fill = [d](std::span<char> out) {
    std::memcpy(out.data(), d->header.data(), d->header.size());
    d->body->copy_to(out.subspan(d->header.size()));
  };
  request->arrival = d->arrival;
  request->body_flags = d->body_flags;
  request->bounce_for_full = [d](const std::vector<std::string>& full, std::int64_t now, const std::string& bounce_id) {
    return bounce_for_full(*d, full, now, bounce_id);
  };
  return request;
}

}  // namespace aviary::smtpd
