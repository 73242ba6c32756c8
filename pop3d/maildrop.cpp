// maildrop.cpp - see maildrop.hpp.
#include "pop3d/maildrop.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "storage/directory.hpp"

namespace aviary::pop3d {

Result<std::unique_ptr<Maildrop>> Maildrop::open(storage::Env& env, const std::string& lock_dir,
                                                 const std::string& address) {
  std::unique_ptr<Maildrop> drop(new Maildrop());
  drop->address_ = address;
  {
    storage::ReadTxn txn(env);
    auto user = storage::find_user(txn, std::string_view(address));
    if (!user) return Error{Errc::not_found, "unknown user " + address};
    drop->user_id_ = user->id;
  }
  std::string lock_path = lock_dir + "/" + std::to_string(drop->user_id_) + ".lock";
  drop->lock_fd_ = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (drop->lock_fd_ < 0) return Error{Errc::storage, "cannot open " + lock_path + ": " + std::strerror(errno)};
  if (::flock(drop->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error{Errc::exists, "maildrop " + address + " is in use"};
    return Error{Errc::storage, "cannot lock " + lock_path + ": " + std::strerror(errno)};
  }
  // The snapshot comes after the lock: nobody else can delete from it now.
  // By id: if the user was deleted and created again meanwhile, the lock
  // above is the old user's and this is not their maildrop.
  storage::ReadTxn txn(env);
  auto user = storage::find_user(txn, std::string_view(address));
  if (!user || user->id != drop->user_id_) return Error{Errc::not_found, "unknown user " + address};
  drop->messages_ = storage::list_messages(txn, user->id, user->messages);
  drop->deleted_.assign(drop->messages_.size(), false);
  return drop;
}

Maildrop::~Maildrop() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

const storage::MessageInfo* Maildrop::find(std::size_t number) const {
  if (!exists(number) || deleted_[number - 1]) return nullptr;
  return &messages_[number - 1];
}

std::size_t Maildrop::live_count() const { return static_cast<std::size_t>(std::count(deleted_.begin(), deleted_.end(), false)); }

std::uint64_t Maildrop::live_size() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (!deleted_[i]) total += messages_[i].size;
  }
  return total;
}

bool Maildrop::mark_deleted(std::size_t number) {
  if (!find(number)) return false;
  deleted_[number - 1] = true;
  return true;
}

void Maildrop::unmark_all() { std::fill(deleted_.begin(), deleted_.end(), false); }

std::size_t Maildrop::marked() const { return count() - live_count(); }

storage::Writer::Op Maildrop::deletion_op() const {
  std::vector<std::uint32_t> uids;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (deleted_[i]) uids.push_back(messages_[i].uid);
  }
  // Only the marked ones, each by its key: the writer holds LMDB's write
  // lock meanwhile, so listing a 100k-message maildrop there would stall
  // every delivery. Keyed by user id: if the user was deleted and created
  // again during the session, the new user's mail is left alone.
  return [address = address_, user_id = user_id_, uids = std::move(uids)](storage::WriteTxn& txn) -> Status {
    storage::delete_present(txn, address, user_id, uids);
    return {};
  };
}

}  // namespace aviary::pop3d
