// lmdb_store.hpp - the Store on one LMDB environment.
//
// Every read is one read transaction; every write is one operation handed
// to the group-commit Writer (writer.hpp), so concurrent writes share a
// commit and its fsync, and a write's completion comes after that commit.
#pragma once

#include <cstddef>
#include <memory>

#include "storage/lmdb/env.hpp"
#include "storage/lmdb/writer.hpp"
#include "storage/store.hpp"

namespace aviary::storage {

class LmdbStore : public Store {
 public:
  explicit LmdbStore(const EnvOptions& options, std::size_t max_batch = 1024);
  // On an environment the caller keeps (tests and benchmarks that also look
  // at the tables); it must outlive the store.
  explicit LmdbStore(Env& env, std::size_t max_batch = 1024);
  ~LmdbStore() override;

  // The LMDB underneath, for code that is about LMDB itself (its tests, the
  // benchmark).
  Env& env() { return env_; }
  Writer& writer() { return writer_; }

  bool is_hosted(std::string_view domain) override;
  std::optional<Domain> find_domain(std::string_view domain) override;
  std::vector<Domain> list_domains() override;
  std::optional<User> find_user(const Address& address) override;
  std::optional<User> find_user(std::string_view address_key) override;
  std::vector<User> list_users(std::optional<std::string_view> domain) override;
  std::optional<Alias> find_alias(const Address& source) override;
  std::vector<Alias> list_aliases(std::optional<std::string_view> domain) override;
  Resolution resolve(const Address& recipient, CatchAll catch_all) override;
  bool fits_quota(std::string_view address_key, std::uint64_t size) override;

  void add_domain(std::string domain, Done done) override;
  void del_domain(std::string domain, bool force, Done done) override;
  void add_user(Address address, std::string password_hash, std::uint64_t quota, Done done) override;
  void set_password(Address address, std::string password_hash, Done done) override;
  void set_quota(Address address, std::uint64_t quota, Done done) override;
  void del_user(Address address, Done done) override;
  void add_alias(Address source, std::vector<Address> targets, Done done) override;
  void del_alias(Address source, Done done) override;

  std::vector<MessageInfo> list_messages(const User& user) override;
  std::optional<MailboxStat> mailbox_stat(std::string_view address_key) override;
  std::optional<std::uint64_t> read_message(std::uint64_t user_id, std::uint32_t uid, std::uint64_t offset,
                                            std::size_t max, const Sink& sink) override;
  void delete_messages(std::string address_key, std::uint64_t user_id, std::vector<std::uint32_t> uids,
                       Done done) override;
  Result<std::unique_ptr<MaildropLock>> lock_maildrop(std::uint64_t user_id) override;

  void deliver(std::shared_ptr<const Delivery> delivery, Done done) override;

  std::vector<std::uint64_t> due_entries(std::int64_t now, std::size_t limit) override;
  std::optional<QueueEntry> find_queued(std::uint64_t id, std::string& why) override;
  std::vector<QueueEntry> list_queue(std::vector<std::uint64_t>* corrupt) override;
  QueueStats queue_stats() override;
  void settle(std::uint64_t id, QueueDecision decide, SettleDone done) override;
  void remove_queued(std::uint64_t id, Done done) override;
  void reschedule_all(std::int64_t now, std::function<void(const Result<std::size_t>&)> done) override;

  std::optional<std::uint64_t> body_size(std::uint64_t blob_id) override;
  std::optional<std::uint64_t> read_body(std::uint64_t blob_id, std::uint64_t offset, std::size_t max,
                                         const Sink& sink) override;

  Usage usage() override;
  void set_commit_observer(CommitObserver observer) override;
  void stop() override;

 private:
  std::unique_ptr<Env> owned_;
  Env& env_;
  Writer writer_;
};

}  // namespace aviary::storage
