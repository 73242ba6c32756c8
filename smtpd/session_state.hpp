// session_state.hpp - what an SMTP session knows between commands.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "smtpd/data_reader.hpp"
#include "smtpd/listener_policy.hpp"
#include "smtpd/message_buffer.hpp"

namespace aviary::smtpd {

// RFC 5321 §4.1.4 command sequence.
enum class Phase {
  connected,  // before HELO/EHLO
  greeted,    // no transaction
  mail,       // MAIL accepted
  rcpt,       // at least one RCPT accepted
};

// RFC 6152; BINARYMIME (RFC 3030) is not offered.
enum class BodyType { seven_bit, eight_bit_mime };

struct Transaction {
  std::string sender;  // "" is the null sender
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  std::optional<std::uint64_t> declared_size;
  std::vector<std::string> recipients;  // as accepted, for logs and Received
  std::vector<std::string> local;       // resolved mailboxes, each once
  std::vector<std::string> remote;      // resolved remote addresses, each once
  std::size_t excess_recipients = 0;    // 452s past max_recipients
  // BDAT: a chunk failed; the rest of the chunks are read and refused.
  bool bdat_failed = false;
  bool bdat_started = false;
  // BDAT chunks received so far (RFC 3030 §2). They belong to this
  // transaction and die with it: RSET, HELO/EHLO, MAIL and STARTTLS all
  // start a new one, so bytes sent before can never be put in front of
  // another message (the CVE-2011-0411 class, applied to content).
  std::unique_ptr<MessageBuffer> chunks;
  bool chunk_overflow = false;  // more than max_message_size octets
  LineEndingCheck line_check;   // across chunk boundaries
};

// An AUTH exchange in progress (RFC 4954 §4).
struct SaslExchange {
  std::string mechanism;  // PLAIN or LOGIN; empty when none is running
  std::string user;       // LOGIN: the user name, before the password
};

struct SessionState {
  ListenerPolicy listener = mx_listener;
  Phase phase = Phase::connected;
  bool esmtp = false;
  std::string helo;
  std::string peer;  // IP address text
  bool tls = false;
  SaslExchange sasl;
  std::string auth_user;  // canonical address once AUTH succeeded
  Transaction txn;
  unsigned errors = 0;
  // NOOP, RSET, VRFY, EXPN, HELP since the last accepted message.
  unsigned junk_commands = 0;

  void reset_transaction() {
    txn = Transaction{};
    if (phase != Phase::connected) phase = Phase::greeted;
  }
};

}  // namespace aviary::smtpd
