// session_state.hpp - what an SMTP session knows between commands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/address.hpp"

namespace aviary::smtpd {

// What a listener is for: the same session code under a different policy.
enum class ListenerKind { mx, submission, submissions };

// RFC 5321 §4.1.4 command sequence.
enum class Phase {
  connected,  // before HELO/EHLO
  greeted,    // no transaction
  mail,       // MAIL accepted
  rcpt,       // at least one RCPT accepted
};

enum class BodyType { seven_bit, eight_bit_mime, binary_mime };

struct Transaction {
  std::string sender;  // "" is the null sender
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  std::optional<std::uint64_t> declared_size;
  std::vector<std::string> recipients;  // as accepted, for logs and Received
  std::vector<std::string> local;       // resolved mailboxes, each once
  std::vector<std::string> remote;      // resolved remote addresses, each once
  // BDAT: a chunk failed; the rest of the chunks are read and refused.
  bool bdat_failed = false;
  bool bdat_started = false;
};

// An AUTH exchange in progress (RFC 4954 §4), and its result.
struct SaslExchange {
  std::string mechanism;  // PLAIN or LOGIN; empty when none is running
  std::string user;
  std::string password;
};

struct SessionState {
  ListenerKind kind = ListenerKind::mx;
  Phase phase = Phase::connected;
  bool esmtp = false;
  std::string helo;
  std::string peer;  // IP address text
  bool tls = false;
  SaslExchange sasl;
  std::string auth_user;  // canonical address once AUTH succeeded
  Transaction txn;
  unsigned errors = 0;

  void reset_transaction() {
    txn = Transaction{};
    if (phase != Phase::connected) phase = Phase::greeted;
  }
};

}  // namespace aviary::smtpd
