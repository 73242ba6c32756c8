// data_reader.hpp - the DATA body: dot-unstuffing, CRLF checks, size cap.
//
// A byte-at-a-time state machine fed with whatever the socket delivered. Only
// <CRLF>.<CRLF> ends a message: a bare LF or CR never counts as a line end
// (no SMTP smuggling) and marks the message as rejected. After any problem
// it keeps reading to the terminator so that the protocol stays in step,
// but stores nothing more.
#pragma once

#include <cstdint>
#include <string_view>

namespace aviary::smtpd {

// Where accepted message bytes go (memory or a spill file).
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void append(std::string_view bytes) = 0;
};

enum class BodyProblem {
  none,
  too_big,        // more than max_message_size octets
  bare_line_end,  // LF without CR, or CR without LF (RFC 5321 §2.3.8)
};

// Text lines may be of any length: RFC 5321 §4.5.3.1.6's 1000 octets are
// what a sender must not exceed, but real senders (newsletters, generated
// HTML) do, and Postfix and Exim store such lines unchanged. Only the
// message size (max_size) limits them.

class DataReader {
 public:
  DataReader(std::uint64_t max_size, MessageSink& sink) : max_size_(max_size), sink_(sink) {}

  // Consumes input up to and including the terminating <CRLF>.<CRLF>; returns
  // how many bytes it took. Anything after the terminator is the next command.
  std::size_t feed(std::string_view input);

  bool done() const { return state_ == State::done; }
  BodyProblem problem() const { return problem_; }
  std::uint64_t size() const { return size_; }  // message octets after unstuffing

 private:
  enum class State { line_start, middle, cr, dot, dot_cr, done };

  void body(char c);
  void emit(std::string_view bytes);
  void flag(BodyProblem p) {
    if (problem_ == BodyProblem::none) problem_ = p;
  }

  std::uint64_t max_size_;
  MessageSink& sink_;
  State state_ = State::line_start;
  BodyProblem problem_ = BodyProblem::none;
  std::uint64_t size_ = 0;
  char pending_[1024];
  std::size_t pending_size_ = 0;
  void flush();
};

// BDAT chunks carry no dot-stuffing, but SPEC.md still refuses bare CR and
// LF in them; the check spans chunk boundaries.
class LineEndingCheck {
 public:
  void feed(std::string_view bytes);
  // At the end of the message: a trailing lone CR is bare too.
  bool ok_at_end() const { return !bad_ && !after_cr_; }
  bool ok() const { return !bad_; }

 private:
  bool after_cr_ = false;
  bool bad_ = false;
};

}  // namespace aviary::smtpd
