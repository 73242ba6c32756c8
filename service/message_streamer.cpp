// message_streamer.cpp - see message_streamer.hpp.
#include "service/message_streamer.hpp"

#include "common/message_stream.hpp"

namespace aviary::service {

asio::awaitable<StreamOutcome> stream_message(Connection& conn, storage::Store& store, const StoredMessage& message,
                                              const StreamOptions& options) {
  MessageStream stream(options.top_lines);
  std::string piece;
  piece.reserve(options.lead.size() + options.piece_size + options.piece_size / 8);  // reused for every piece
  std::uint64_t offset = 0;  // how much has been read
  for (bool first = true; !stream.finished(); first = false) {
    piece.clear();
    if (first) piece += options.lead;
    auto append = [&](std::string_view octets) {
      stream.feed(octets, piece);
      offset += octets.size();
    };
    auto total = message.blob_id ? store.read_body(message.blob_id, offset, options.piece_size, append)
                                 : store.read_message(message.user_id, message.uid, offset, options.piece_size, append);
    if (!total) co_return first ? StreamOutcome::gone : StreamOutcome::gone_midway;
    stream.end(*total, piece);
    if (options.before_write) options.before_write();
    co_await conn.write(piece);
    if (options.written) options.written(piece.size());
  }
  co_return StreamOutcome::sent;
}

}  // namespace aviary::service
