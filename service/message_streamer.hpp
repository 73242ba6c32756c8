// message_streamer.hpp - sending a stored message dot-stuffed (POP3 RETR
// and TOP, SMTP DATA) piece by piece, so that a 30 MiB message costs one
// piece of memory per session. Each piece is read from the store on its
// own (a short read transaction in LMDB, never held across a write).
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "service/connection.hpp"
#include "storage/store.hpp"

namespace aviary::service {

// Which stored octets: a copy in a mailbox, or a queued body.
struct StoredMessage {
  static StoredMessage in_mailbox(std::uint64_t user_id, std::uint32_t uid) { return {user_id, uid, 0}; }
  static StoredMessage queued(std::uint64_t blob_id) { return {0, 0, blob_id}; }
  std::uint64_t user_id = 0;
  std::uint32_t uid = 0;
  std::uint64_t blob_id = 0;  // set: a queued body
};

struct StreamOptions {
  std::optional<std::size_t> top_lines;  // TOP's body line count; nullopt: the whole message
  std::string lead;                      // sent just before the message, in its first piece (POP3's +OK line)
  std::size_t piece_size = 64 * 1024;
  // Before each piece is written (it may throw to stop), and after.
  std::function<void()> before_write;
  std::function<void(std::size_t bytes)> written;
};

enum class StreamOutcome {
  sent,         // all of it, and the final "."
  gone,         // the message was not there: nothing was written
  gone_midway,  // it went while being sent: part of it was written
};

// `message` and `options` must outlive the call (pass named objects).
asio::awaitable<StreamOutcome> stream_message(Connection& conn, storage::Store& store, const StoredMessage& message,
                                              const StreamOptions& options);

}  // namespace aviary::service
