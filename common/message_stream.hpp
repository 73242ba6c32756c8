// message_stream.hpp - dot-stuffed message output (POP3 RETR/TOP, SMTP DATA), piece by piece.
//
// A 30 MiB message must not cost 30 MiB per session: the session asks for
// the next piece (read under a short read transaction, never held across a
// wait), sends it, and asks again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aviary {

class MessageStream {
 public:
  // `top_lines`: TOP's body line count; nullopt sends the whole message (RETR).
  explicit MessageStream(std::optional<std::size_t> top_lines) : top_lines_(top_lines) {}

  // Appends to `out` the dot-stuffed form of the message (given as its two
  // parts) from where the last call stopped, at most about `budget` octets.
  // Returns false once everything, including the final ".", is out.
  bool next(std::string_view prefix, std::string_view body, std::string& out, std::size_t budget);

  // The same for a message that arrives in pieces: appends the dot-stuffed
  // form of `octets`, the message's next ones (from octets() on), stopping
  // after TOP's last line...
  void feed(std::string_view octets, std::string& out);
  // ...and, once the message of `total` octets is all in (or TOP is done),
  // the final "."; true from then on.
  bool end(std::uint64_t total, std::string& out);
  bool finished() const { return finished_; }

  std::uint64_t octets() const { return offset_; }  // message octets consumed so far

 private:
  std::optional<std::size_t> top_lines_;
  std::uint64_t offset_ = 0;
  bool line_start_ = true;
  bool in_body_ = false;       // past the blank line after the headers
  std::size_t line_length_ = 0;
  std::size_t body_lines_ = 0;
  bool cut_ = false;  // TOP has sent its lines
  bool finished_ = false;
};

}  // namespace aviary
