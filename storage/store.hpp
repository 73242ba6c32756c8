// store.hpp - the store as the daemons and aviaryctl see it.
//
// One abstract interface of domain operations: the directory, mailboxes,
// deliveries, the outbound queue, the queued bodies and maildrop locks. LMDB
// is one implementation (storage/lmdb/); another backend implements this
// header and nothing above storage/ changes.
//
// Reads are synchronous and see committed data only. Every write is one
// call that the backend may batch with others (LMDB's group commit); its
// completion, the Done callback, means "durably committed" (fsync done) or
// "nothing of it stored" (an error Status). Done runs on a backend thread:
// callers post it where they need it (service/commit.hpp awaits it). A
// store that cannot work at all (I/O error, corruption) throws Failure.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"
#include "common/result.hpp"
#include "storage/failure.hpp"
#include "storage/records.hpp"

namespace aviary::storage {

using Done = std::function<void(const Status&)>;

// Receives stored octets, in one or more pieces, only during the call that
// was given it (the pieces may point into a memory map).
using Sink = std::function<void(std::string_view piece)>;

// Told the duration and the number of writes of each commit (for metrics).
using CommitObserver = std::function<void(std::chrono::duration<double> elapsed, std::size_t writes)>;

// A received message, stored in one commit: the body once, a copy (its own
// Return-Path and Delivered-To lines plus a reference to the body) in each
// local mailbox, and the remote recipients queued. Shared with the backend:
// it may run the write after the session that made it is gone.
struct Delivery {
  std::string id;  // "queued as"
  std::string sender;
  std::vector<std::string> local;   // canonical user addresses
  std::vector<std::string> remote;  // queued for the relay
  std::uint64_t size = 0;           // of what `fill` writes
  std::function<void(std::span<char> out)> fill;  // writes the whole body (may run more than once)
  std::int64_t arrival = 0;
  std::uint8_t body_flags = 0;  // BodyFlags, for the relay
  // The bounce for local recipients whose mailbox was full at commit (none
  // when it returns ""); stored in the same commit, from the null sender.
  std::function<std::string(const std::vector<std::string>& full, std::int64_t now, const std::string& bounce_id)>
      bounce_for_full;
};

// The quota is enforced at commit, where concurrent deliveries are
// serialized: a mailbox already at or over its quota gets nothing (the
// message that crosses the line still lands). With no recipient left the
// write fails with over_quota, or not_found when every user is gone.

// A message Aviary wrote itself (a bounce), from the null sender to `to`:
// into the mailboxes `to` resolves to, or queued when it is not hosted here.
struct Generated {
  std::string message;
  std::string to;
  std::string id;
  std::int64_t now = 0;  // its arrival, unix seconds
};

// What the relay decides about a queue entry after a round of attempts.
struct QueueChange {
  enum class Action { update, remove } action = Action::update;
  std::optional<Generated> bounce;
};

// Runs inside the write, on the entry as committed (an administrator may
// have changed it meanwhile), and edits it in place. Pure: the backend may
// call it more than once.
using QueueDecision = std::function<QueueChange(QueueEntry& entry)>;

// How many copies of the bounce were stored (0: it had nowhere to go), or
// the error that stored nothing. A missing entry is no error: no copies.
using SettleDone = std::function<void(const Result<std::size_t>&)>;

// Holds a user's maildrop for one POP3 session, across every process and
// machine on the store; released when destroyed (or when its holder dies).
class MaildropLock {
 public:
  virtual ~MaildropLock() = default;
};

struct Usage {
  std::uint64_t capacity = 0;  // LMDB: the map size
  std::uint64_t used = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // -- directory: reads
  virtual bool is_hosted(std::string_view domain) = 0;
  virtual std::optional<Domain> find_domain(std::string_view domain) = 0;
  virtual std::vector<Domain> list_domains() = 0;
  virtual std::optional<User> find_user(const Address& address) = 0;
  virtual std::optional<User> find_user(std::string_view address_key) = 0;
  virtual std::vector<User> list_users(std::optional<std::string_view> domain) = 0;
  virtual std::optional<Alias> find_alias(const Address& source) = 0;
  virtual std::vector<Alias> list_aliases(std::optional<std::string_view> domain) = 0;
  virtual Resolution resolve(const Address& recipient, CatchAll catch_all) = 0;
  virtual bool fits_quota(std::string_view address_key, std::uint64_t size) = 0;

  // -- directory: writes
  virtual void add_domain(std::string domain, Done done) = 0;
  // Fails with has_users unless force; with force the domain's users (and
  // their mail) and aliases go too.
  virtual void del_domain(std::string domain, bool force, Done done) = 0;
  virtual void add_user(Address address, std::string password_hash, std::uint64_t quota, Done done) = 0;
  virtual void set_password(Address address, std::string password_hash, Done done) = 0;
  virtual void set_quota(Address address, std::uint64_t quota, Done done) = 0;
  virtual void del_user(Address address, Done done) = 0;  // and every message
  // Merges new targets into an existing alias; alias_loop if it would
  // expand into itself or nest too deep.
  virtual void add_alias(Address source, std::vector<Address> targets, Done done) = 0;
  virtual void del_alias(Address source, Done done) = 0;

  // -- mailboxes
  // The messages of this user, by id (a user deleted and created again
  // under the same address is another mailbox).
  virtual std::vector<MessageInfo> list_messages(const User& user) = 0;
  virtual std::optional<MailboxStat> mailbox_stat(std::string_view address_key) = 0;
  // Octets [offset, offset + max) of a stored message (its own lines, then
  // the shared body) to `sink`; the message's whole size, or nullopt when
  // it is gone.
  virtual std::optional<std::uint64_t> read_message(std::uint64_t user_id, std::uint32_t uid, std::uint64_t offset,
                                                    std::size_t max, const Sink& sink) = 0;
  // POP3's UPDATE state: the messages with these uids still present, of this
  // user id only (a user deleted and created again keeps the new mail).
  virtual void delete_messages(std::string address_key, std::uint64_t user_id, std::vector<std::uint32_t> uids,
                               Done done) = 0;
  // Errc::exists when another session holds it.
  virtual Result<std::unique_ptr<MaildropLock>> lock_maildrop(std::uint64_t user_id) = 0;

  // -- deliveries
  virtual void deliver(std::shared_ptr<const Delivery> delivery, Done done) = 0;

  // -- the outbound queue
  virtual std::vector<std::uint64_t> due_entries(std::int64_t now, std::size_t limit) = 0;  // oldest due first
  // nullopt with `why` set for a record this binary cannot decode.
  virtual std::optional<QueueEntry> find_queued(std::uint64_t id, std::string& why) = 0;
  virtual std::vector<QueueEntry> list_queue(std::vector<std::uint64_t>* corrupt) = 0;
  virtual QueueStats queue_stats() = 0;
  virtual void settle(std::uint64_t id, QueueDecision decide, SettleDone done) = 0;
  virtual void remove_queued(std::uint64_t id, Done done) = 0;
  // Makes every entry due now; how many there were.
  virtual void reschedule_all(std::int64_t now, std::function<void(const Result<std::size_t>&)> done) = 0;

  // -- queued bodies
  virtual std::optional<std::uint64_t> body_size(std::uint64_t blob_id) = 0;
  // As read_message, for a queued body.
  virtual std::optional<std::uint64_t> read_body(std::uint64_t blob_id, std::uint64_t offset, std::size_t max,
                                                 const Sink& sink) = 0;

  virtual Usage usage() = 0;

  // -- running
  virtual void set_commit_observer(CommitObserver observer) = 0;
  // Finishes the writes already started (every Done is called); later ones
  // fail. Call it while whatever the Done callbacks post to still exists.
  // Idempotent; the destructor calls it.
  virtual void stop() = 0;
};

// Starts one write and waits for its completion: aviaryctl and tests.
Status wait_for(const std::function<void(Done)>& start);

}  // namespace aviary::storage
