// message_buffer.hpp - a message being received: memory first, then a file.
//
// Memory per session stays bounded: past `memory_limit` the bytes move to an
// unlinked temporary file, so a 35 MiB message costs a file, not 35 MiB of
// heap per session.
//
// A spill file that cannot be created or written (disk full, the directory
// gone) does not throw: the buffer remembers the failure and stores nothing
// more, so that the session can read the rest of the message, stay in step
// with the client and answer 451 (RFC 5321 §4.2.4) instead of dropping the
// connection.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "smtpd/data_reader.hpp"

namespace aviary::smtpd {

class MessageBuffer : public MessageSink {
 public:
  MessageBuffer(std::string spill_dir, std::size_t memory_limit);
  ~MessageBuffer() override;
  MessageBuffer(const MessageBuffer&) = delete;
  MessageBuffer& operator=(const MessageBuffer&) = delete;

  void append(std::string_view bytes) override;  // after a failure: ignored
  std::uint64_t size() const { return size_; }
  // The first spill-file error ("" when none); the bytes are then incomplete.
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool spilled() const { return fd_ >= 0; }

  // Copies the whole message into `dst` (exactly size() bytes).
  void copy_to(std::span<char> dst) const;
  // The first bytes (at most `n`), e.g. to look at the headers.
  std::string head(std::size_t n) const;
  void clear();

 private:
  void spill(std::string_view bytes);  // throws std::system_error

  std::string spill_dir_;
  std::size_t memory_limit_;
  std::string memory_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string error_;
};

}  // namespace aviary::smtpd
