// lmdb_store.cpp - see lmdb_store.hpp.
#include "storage/lmdb/lmdb_store.hpp"

#include <algorithm>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/maildrop_lock.hpp"
#include "storage/lmdb/queue.hpp"
#include "storage/lmdb/resolve.hpp"
#include "storage/lmdb/store_writes.hpp"

namespace aviary::storage {
namespace {

// Octets [offset, offset + max) of the two parts, each given as it is; the
// map pages of what was read are let go (a 30 MiB message read piece by
// piece must not stay in the process's RSS).
std::uint64_t read_parts(std::string_view prefix, std::string_view body, std::uint64_t offset, std::size_t max,
                         const Sink& sink) {
  std::uint64_t total = prefix.size() + body.size();
  std::uint64_t end = std::min<std::uint64_t>(total, offset + max);
  if (offset < prefix.size()) {
    sink(prefix.substr(offset, std::min<std::uint64_t>(end, prefix.size()) - offset));
  }
  if (end > prefix.size()) {
    std::uint64_t from = std::max<std::uint64_t>(offset, prefix.size()) - prefix.size();
    std::string_view piece = body.substr(from, end - prefix.size() - from);
    sink(piece);
    release_mapped(piece);
  }
  return total;
}

}  // namespace

LmdbStore::LmdbStore(const EnvOptions& options, std::size_t max_batch)
    : owned_(std::make_unique<Env>(options)), env_(*owned_), writer_(env_, max_batch) {}

LmdbStore::LmdbStore(Env& env, std::size_t max_batch) : env_(env), writer_(env_, max_batch) {}

LmdbStore::~LmdbStore() { writer_.stop(); }

// -- directory

bool LmdbStore::is_hosted(std::string_view domain) {
  ReadTxn txn(env_);
  return storage::is_hosted(txn, domain);
}

std::optional<Domain> LmdbStore::find_domain(std::string_view domain) {
  ReadTxn txn(env_);
  return storage::find_domain(txn, domain);
}

std::vector<Domain> LmdbStore::list_domains() {
  ReadTxn txn(env_);
  return storage::list_domains(txn);
}

std::optional<User> LmdbStore::find_user(const Address& address) {
  ReadTxn txn(env_);
  return storage::find_user(txn, address);
}

std::optional<User> LmdbStore::find_user(std::string_view address_key) {
  ReadTxn txn(env_);
  return storage::find_user(txn, address_key);
}

std::vector<User> LmdbStore::list_users(std::optional<std::string_view> domain) {
  ReadTxn txn(env_);
  return storage::list_users(txn, domain);
}

std::optional<Alias> LmdbStore::find_alias(const Address& source) {
  ReadTxn txn(env_);
  return storage::find_alias(txn, source);
}

std::vector<Alias> LmdbStore::list_aliases(std::optional<std::string_view> domain) {
  ReadTxn txn(env_);
  return storage::list_aliases(txn, domain);
}

Resolution LmdbStore::resolve(const Address& recipient, CatchAll catch_all) {
  ReadTxn txn(env_);
  return resolve_recipient(txn, recipient, catch_all);
}

bool LmdbStore::fits_quota(std::string_view address_key, std::uint64_t size) {
  ReadTxn txn(env_);
  return storage::fits_quota(txn, address_key, size);
}

void LmdbStore::add_domain(std::string domain, Done done) {
  writer_.submit([domain = std::move(domain)](WriteTxn& txn) { return storage::add_domain(txn, domain); },
                 std::move(done));
}

void LmdbStore::del_domain(std::string domain, bool force, Done done) {
  writer_.submit([domain = std::move(domain), force](WriteTxn& txn) { return storage::del_domain(txn, domain, force); },
                 std::move(done));
}

void LmdbStore::add_user(Address address, std::string password_hash, std::uint64_t quota, Done done) {
  writer_.submit(
      [address = std::move(address), hash = std::move(password_hash), quota](WriteTxn& txn) -> Status {
        auto added = storage::add_user(txn, address, hash, quota);
        if (!added) return added.error();
        return {};
      },
      std::move(done));
}

void LmdbStore::set_password(Address address, std::string password_hash, Done done) {
  writer_.submit([address = std::move(address), hash = std::move(password_hash)](
                     WriteTxn& txn) { return storage::set_password(txn, address, hash); },
                 std::move(done));
}

void LmdbStore::set_quota(Address address, std::uint64_t quota, Done done) {
  writer_.submit([address = std::move(address), quota](WriteTxn& txn) { return storage::set_quota(txn, address, quota); },
                 std::move(done));
}

void LmdbStore::del_user(Address address, Done done) {
  writer_.submit([address = std::move(address)](WriteTxn& txn) { return storage::del_user(txn, address); },
                 std::move(done));
}

void LmdbStore::add_alias(Address source, std::vector<Address> targets, Done done) {
  writer_.submit([source = std::move(source), targets = std::move(targets)](
                     WriteTxn& txn) { return storage::add_alias(txn, source, targets); },
                 std::move(done));
}

void LmdbStore::del_alias(Address source, Done done) {
  writer_.submit([source = std::move(source)](WriteTxn& txn) { return storage::del_alias(txn, source); },
                 std::move(done));
}

// -- mailboxes

std::vector<MessageInfo> LmdbStore::list_messages(const User& user) {
  ReadTxn txn(env_);
  return storage::list_messages(txn, user.id, user.messages);
}

std::optional<MailboxStat> LmdbStore::mailbox_stat(std::string_view address_key) {
  ReadTxn txn(env_);
  return storage::mailbox_stat(txn, address_key);
}

std::optional<std::uint64_t> LmdbStore::read_message(std::uint64_t user_id, std::uint32_t uid, std::uint64_t offset,
                                                     std::size_t max, const Sink& sink) {
  ReadTxn txn(env_);
  auto view = view_message(txn, user_id, uid);
  if (!view) return std::nullopt;
  return read_parts(view->prefix, view->body, offset, max, sink);
}

void LmdbStore::delete_messages(std::string address_key, std::uint64_t user_id, std::vector<std::uint32_t> uids,
                                Done done) {
  // Only the given ones, each by its key: the writer holds LMDB's write lock
  // meanwhile, so listing a 100k-message maildrop there would stall every
  // delivery.
  std::sort(uids.begin(), uids.end());
  writer_.submit(
      [address_key = std::move(address_key), user_id, uids = std::move(uids)](WriteTxn& txn) -> Status {
        delete_present(txn, address_key, user_id, uids);
        return {};
      },
      std::move(done));
}

Result<std::unique_ptr<MaildropLock>> LmdbStore::lock_maildrop(std::uint64_t user_id) {
  return lock_maildrop_file(env_.path() + "/locks", user_id);
}

// -- deliveries

void LmdbStore::deliver(std::shared_ptr<const Delivery> delivery, Done done) {
  writer_.submit(delivery_op(std::move(delivery)), std::move(done));
}

// -- the outbound queue

std::vector<std::uint64_t> LmdbStore::due_entries(std::int64_t now, std::size_t limit) {
  ReadTxn txn(env_);
  return storage::due_entries(txn, now, limit);
}

std::optional<QueueEntry> LmdbStore::find_queued(std::uint64_t id, std::string& why) {
  ReadTxn txn(env_);
  return storage::find_queued(txn, id, why);
}

std::vector<QueueEntry> LmdbStore::list_queue(std::vector<std::uint64_t>* corrupt) {
  ReadTxn txn(env_);
  return storage::list_queue(txn, corrupt);
}

QueueStats LmdbStore::queue_stats() {
  ReadTxn txn(env_);
  return storage::queue_stats(txn);
}

void LmdbStore::settle(std::uint64_t id, QueueDecision decide, SettleDone done) {
  auto copies = std::make_shared<std::size_t>(0);
  writer_.submit(settle_op(id, std::move(decide), copies), [copies, done = std::move(done)](const Status& status) {
    if (!status) return done(status.error());
    done(*copies);
  });
}

void LmdbStore::remove_queued(std::uint64_t id, Done done) {
  writer_.submit([id](WriteTxn& txn) { return storage::remove_queued(txn, id); }, std::move(done));
}

void LmdbStore::reschedule_all(std::int64_t now, std::function<void(const Result<std::size_t>&)> done) {
  auto count = std::make_shared<std::size_t>(0);
  writer_.submit(
      [now, count](WriteTxn& txn) -> Status {
        *count = storage::reschedule_all(txn, now);
        return {};
      },
      [count, done = std::move(done)](const Status& status) {
        if (!status) return done(status.error());
        done(*count);
      });
}

// -- queued bodies

std::optional<std::uint64_t> LmdbStore::body_size(std::uint64_t blob_id) {
  ReadTxn txn(env_);
  return blob_size(txn, blob_id);
}

std::optional<std::uint64_t> LmdbStore::read_body(std::uint64_t blob_id, std::uint64_t offset, std::size_t max,
                                                  const Sink& sink) {
  ReadTxn txn(env_);
  auto body = view_blob(txn, blob_id);
  if (!body) return std::nullopt;
  return read_parts({}, *body, offset, max, sink);
}

// -- running

Usage LmdbStore::usage() { return Usage{env_.map_size(), env_.map_used()}; }

void LmdbStore::set_commit_observer(CommitObserver observer) { writer_.set_commit_observer(std::move(observer)); }

void LmdbStore::stop() { writer_.stop(); }

}  // namespace aviary::storage
