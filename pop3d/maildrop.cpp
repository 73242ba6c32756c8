// maildrop.cpp - see maildrop.hpp.
#include "pop3d/maildrop.hpp"

#include <algorithm>

namespace aviary::pop3d {

Result<std::unique_ptr<Maildrop>> Maildrop::open(storage::Store& store, const std::string& address) {
  std::unique_ptr<Maildrop> drop(new Maildrop());
  drop->address_ = address;
  auto user = store.find_user(std::string_view(address));
  if (!user) return Error{Errc::not_found, "unknown user " + address};
  drop->user_id_ = user->id;
  auto lock = store.lock_maildrop(drop->user_id_);
  if (!lock) {
    if (lock.error().code == Errc::exists) return Error{Errc::exists, "maildrop " + address + " is in use"};
    return lock.error();
  }
  drop->lock_ = std::move(lock).value();
  // The snapshot comes after the lock: nobody else can delete from it now.
  // By id: if the user was deleted and created again meanwhile, the lock
  // above is the old user's and this is not their maildrop.
  user = store.find_user(std::string_view(address));
  if (!user || user->id != drop->user_id_) return Error{Errc::not_found, "unknown user " + address};
  drop->messages_ = store.list_messages(*user);
  drop->deleted_.assign(drop->messages_.size(), false);
  return drop;
}

Maildrop::~Maildrop() = default;

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

std::vector<std::uint32_t> Maildrop::marked_uids() const {
  std::vector<std::uint32_t> uids;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (deleted_[i]) uids.push_back(messages_[i].uid);
  }
  return uids;
}

void Maildrop::delete_marked(storage::Store& store, storage::Done done) const {
  // Keyed by user id: if the user was deleted and created again during the
  // session, the new user's mail is left alone.
  store.delete_messages(address_, user_id_, marked_uids(), std::move(done));
}

}  // namespace aviary::pop3d
