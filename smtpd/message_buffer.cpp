// message_buffer.cpp - see message_buffer.hpp.
#include "smtpd/message_buffer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace aviary::smtpd {
namespace {

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

MessageBuffer::MessageBuffer(std::string spill_dir, std::size_t memory_limit)
    : spill_dir_(std::move(spill_dir)), memory_limit_(memory_limit) {}

MessageBuffer::~MessageBuffer() { clear(); }

void MessageBuffer::clear() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  memory_.clear();
  memory_.shrink_to_fit();
  size_ = 0;
  error_.clear();
}

void MessageBuffer::append(std::string_view bytes) {
  if (failed()) return;
  if (fd_ < 0 && memory_.size() + bytes.size() <= memory_limit_) {
    memory_.append(bytes);
    size_ += bytes.size();
    return;
  }
  try {
    spill(bytes);
  } catch (const std::system_error& e) {
    error_ = e.what();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    memory_.clear();
    memory_.shrink_to_fit();
  }
}

void MessageBuffer::spill(std::string_view bytes) {
  if (fd_ < 0) {
    // O_TMPFILE: never visible by name, gone with the descriptor even after a crash.
    fd_ = ::open(spill_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) fail("cannot create spill file");
    std::string_view held = memory_;
    while (!held.empty()) {
      ssize_t n = ::write(fd_, held.data(), held.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write spill file");
      held.remove_prefix(static_cast<std::size_t>(n));
    }
    memory_.clear();
    memory_.shrink_to_fit();
  }
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write spill file");
    size_ += static_cast<std::uint64_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void MessageBuffer::copy_to(std::span<char> dst) const {
  if (fd_ < 0) {
    std::memcpy(dst.data(), memory_.data(), std::min<std::size_t>(dst.size(), memory_.size()));
    return;
  }
  std::size_t done = 0;
  while (done < dst.size()) {
    ssize_t n = ::pread(fd_, dst.data() + done, dst.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot read spill file");
    done += static_cast<std::size_t>(n);
  }
}

std::string MessageBuffer::head(std::size_t n) const {
  std::string out(std::min<std::uint64_t>(n, size_), '\0');
  if (fd_ < 0) {
    out.assign(memory_.data(), out.size());
  } else {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t r = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (r <= 0) break;
      done += static_cast<std::size_t>(r);
    }
    out.resize(done);
  }
  return out;
}

}  // namespace aviary::smtpd
