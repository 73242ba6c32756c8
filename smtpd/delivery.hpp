// delivery.hpp - turning a received message into one storage commit.
//
// The body (with the Received header) becomes one blob; each local mailbox
// gets a copy that is only its own Return-Path and Delivered-To lines plus a
// reference to the blob; remote recipients go to the outbound queue in the
// same transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/message_buffer.hpp"
#include "smtpd/session_state.hpp"
#include "storage/writer.hpp"

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
  // Owned here, not by the session: the writer may run the operation after
  // the session is gone.
  std::unique_ptr<MessageBuffer> body;
  std::int64_t arrival = 0;
  std::uint8_t body_flags = 0;  // storage::BodyFlags, for the relay
  std::string hostname;         // ours, for a bounce written at commit
};

// The write operation: safe to run again (the writer retries batches).
// The quota is enforced here, in the commit, not only at RCPT: concurrent
// sessions each passed RCPT against the same usage. A mailbox already at or
// over its quota gets nothing (the message that crosses the line still
// lands). If no recipient is left the operation fails with over_quota (the
// session answers 552 5.2.2); if others took the message, the sender gets a
// bounce for the full mailboxes.
storage::Writer::Op make_delivery_op(std::shared_ptr<const Delivery> delivery);

}  // namespace aviary::smtpd
