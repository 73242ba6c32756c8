// delivery.hpp - a received message as the store takes it: the trace
// header in front of the body, and the bounce for mailboxes found full at
// commit (storage::Delivery says what the one commit stores).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/message_buffer.hpp"
#include "smtpd/session_state.hpp"
#include "storage/store.hpp"

namespace aviary::smtpd {

struct TraceInfo {
  std::string helo;
  std::string peer;         // IP address
  std::string hostname;     // ours
  std::string protocol;     // RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA
  std::string tls;          // "TLSv1.3 TLS_AES_256_GCM_SHA384" or empty
  std::string id;
  std::string for_recipient;  // only with a single recipient (no address leak)
  std::int64_t when = 0;      // unix seconds
};

// RFC 5321 §4.4 trace header, folded, ending in CRLF.
std::string received_header(const TraceInfo& trace);

struct Delivery {
  std::string id;
  std::string sender;
  std::vector<std::string> local;
  std::vector<std::string> remote;
  std::string header;  // prepended to the body in the blob (Received)
  // Owned here, not by the session: the store may run the write after the
  // session is gone.
  std::unique_ptr<MessageBuffer> body;
  std::int64_t arrival = 0;
  std::uint8_t body_flags = 0;  // storage::BodyFlags, for the relay
  std::string hostname;         // ours, for a bounce written at commit
};

// The store's request, which keeps `delivery` alive. The quota is enforced
// in the commit, not only at RCPT: concurrent sessions each passed RCPT
// against the same usage. If no recipient is left the write fails with
// over_quota (the session answers 552 5.2.2); if others took the message,
// the sender gets a bounce for the full mailboxes (none to the null sender).
std::shared_ptr<const storage::Delivery> storage_delivery(std::shared_ptr<const Delivery> delivery);

}  // namespace aviary::smtpd
