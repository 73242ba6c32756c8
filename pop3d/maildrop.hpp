// maildrop.hpp - a user's mailbox as one POP3 session sees it.
//
// A snapshot taken at login (mail arriving later waits for the next
// session), an exclusive lock across processes, and deletion marks that are
// applied only at QUIT, all at once. The lock is the store's
// (Store::lock_maildrop): a crash never leaves a maildrop locked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "storage/store.hpp"

namespace aviary::pop3d {

class Maildrop {
 public:
  // Errc::exists when another session holds the lock.
  static Result<std::unique_ptr<Maildrop>> open(storage::Store& store, const std::string& address);
  ~Maildrop();
  Maildrop(const Maildrop&) = delete;
  Maildrop& operator=(const Maildrop&) = delete;

  const std::string& address() const { return address_; }
  std::uint64_t user_id() const { return user_id_; }

  std::size_t count() const { return messages_.size(); }
  // Message `number` (1-based) unless it is missing or marked deleted.
  const storage::MessageInfo* find(std::size_t number) const;
  bool exists(std::size_t number) const { return number >= 1 && number <= messages_.size(); }
  bool is_deleted(std::size_t number) const { return exists(number) && deleted_[number - 1]; }

  std::size_t live_count() const;
  std::uint64_t live_size() const;

  // False if already marked or missing.
  bool mark_deleted(std::size_t number);
  void unmark_all();
  std::size_t marked() const;

  // The uids marked deleted, in order.
  std::vector<std::uint32_t> marked_uids() const;
  // The UPDATE state (RFC 1939 §6): one write removing every marked message
  // still present, in this user's mailbox only (by user id).
  void delete_marked(storage::Store& store, storage::Done done) const;

 private:
  Maildrop() = default;

  std::string address_;
  std::uint64_t user_id_ = 0;
  std::unique_ptr<storage::MaildropLock> lock_;
  std::vector<storage::MessageInfo> messages_;
  std::vector<bool> deleted_;
};

}  // namespace aviary::pop3d
