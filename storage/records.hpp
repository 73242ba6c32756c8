// records.hpp - the plain records the store hands out and takes in: the
// same for every backend (storage/store.hpp), with no storage engine in them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aviary::storage {

// -- the directory

struct Domain {
  std::string name;
  std::int64_t created = 0;  // unix seconds
  std::uint64_t users = 0;
  std::uint64_t aliases = 0;
};

struct User {
  std::string address;        // canonical "local@domain"
  std::uint64_t id = 0;       // never reused, even after the user is deleted
  std::string password_hash;  // Argon2id PHC string
  std::uint64_t quota = 0;    // bytes; 0 = no quota
  std::uint64_t usage = 0;    // bytes stored in the mailbox
  std::uint64_t messages = 0;
  std::uint32_t next_uid = 1;
  std::int64_t created = 0;
};

struct Alias {
  std::string source;                // "local@domain", or "@domain" for the catch-all
  std::vector<std::string> targets;  // canonical addresses, hosted or not
};

struct Resolution {
  enum class Outcome { deliver, not_hosted, unknown_user, loop };
  Outcome outcome = Outcome::unknown_user;
  std::vector<std::string> local;   // canonical user addresses, each once
  std::vector<std::string> remote;  // canonical addresses outside our domains, each once
  std::string detail;               // why, for loop and unknown_user
};

// Whether a domain's catch-all takes addresses nothing else matches. Sender
// ownership on submission ignores it: with "@example.test -> alice", alice
// owns every address of the domain as a recipient, but may not send as
// ceo@example.test.
enum class CatchAll { use, ignore };

// -- mailboxes

struct MessageInfo {
  std::uint32_t uid = 0;
  std::uint64_t size = 0;      // prefix + body, the size quota and POP3 count
  std::int64_t arrival = 0;    // unix seconds
  std::string uidl;
  std::uint64_t blob_id = 0;
};

struct MailboxStat {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t quota = 0;  // 0 = none
};

// -- the outbound queue

enum class RecipientStatus : std::uint8_t { pending = 0, delivered = 1, failed = 2 };

struct QueueRecipient {
  std::string address;
  RecipientStatus status = RecipientStatus::pending;
  std::string diagnostic;  // the last reply or error for this recipient
};

// What the relay must know about the body to send it on (RFC 6152, 6531).
enum BodyFlags : std::uint8_t { body_8bit = 1, body_smtputf8 = 2 };

struct QueueEntry {
  std::uint64_t id = 0;
  std::string message_id;  // the id the client was told ("queued as ...")
  std::string sender;  // "" = the null sender
  std::uint64_t blob_id = 0;
  std::int64_t created = 0;
  std::int64_t next_attempt = 0;
  std::uint32_t attempts = 0;
  std::uint8_t flags = 0;  // BodyFlags
  std::vector<QueueRecipient> recipients;
};

struct QueueStats {
  std::size_t messages = 0;
  std::int64_t oldest_created = 0;  // 0 when empty (undecodable records are skipped)
};

}  // namespace aviary::storage
