// maildrop_lock.cpp - see maildrop_lock.hpp.
#include "storage/lmdb/maildrop_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aviary::storage {
namespace {

class FileLock : public MaildropLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  ~FileLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

}  // namespace

Result<std::unique_ptr<MaildropLock>> lock_maildrop_file(const std::string& lock_dir, std::uint64_t user_id) {
  ::mkdir(lock_dir.c_str(), 0700);  // usually there already (the daemons make it before dropping privileges)
  std::string lock_path = lock_dir + "/" + std::to_string(user_id) + ".lock";
  int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errc::storage, "cannot open " + lock_path + ": " + std::strerror(errno)};
  auto lock = std::make_unique<FileLock>(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error{Errc::exists, "maildrop is in use"};
    return Error{Errc::storage, "cannot lock " + lock_path + ": " + std::strerror(errno)};
  }
  return std::unique_ptr<MaildropLock>(std::move(lock));
}

}  // namespace aviary::storage
