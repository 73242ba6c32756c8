// data_reader.cpp - see data_reader.hpp (RFC 5321 §4.1.1.4, §4.5.2).
#include "smtpd/data_reader.hpp"

namespace aviary::smtpd {

std::size_t DataReader::feed(std::string_view input) {
  std::size_t used = 0;
  while (used < input.size() && state_ != State::done) {
    char c = input[used++];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          // Either the terminator or the stuffing that §4.5.2 removes.
          state_ = State::dot;
        } else {
          body(c);
        }
        break;
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
        } else {
          // §4.5.2: the first of a leading period is deleted.
          body(c);
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
        } else {
          flag(BodyProblem::bare_line_end);  // ".\r" then something else
          emit("\r");
          state_ = State::middle;
          body(c);
        }
        break;
      case State::cr:
        if (c == '\n') {
          emit("\n");
          state_ = State::line_start;
        } else {
          flag(BodyProblem::bare_line_end);
          state_ = State::middle;
          body(c);
        }
        break;
      case State::middle:
        body(c);
        break;
      case State::done:
        break;
    }
  }
  flush();
  return used;
}

// One octet of line content (not a terminator decision).
void DataReader::body(char c) {
  if (c == '\r') {
    emit("\r");
    state_ = State::cr;
    return;
  }
  if (c == '\n') {
    // A bare LF is not a line end: the line (and any "." after it) goes on.
    flag(BodyProblem::bare_line_end);
  }
  emit(std::string_view(&c, 1));
  state_ = State::middle;
}

void DataReader::emit(std::string_view bytes) {
  size_ += bytes.size();
  if (size_ > max_size_) flag(BodyProblem::too_big);
  if (problem_ != BodyProblem::none) {
    pending_size_ = 0;
    return;
  }
  for (char c : bytes) {
    if (pending_size_ == sizeof pending_) flush();
    pending_[pending_size_++] = c;
  }
}

void DataReader::flush() {
  if (pending_size_ > 0 && problem_ == BodyProblem::none) sink_.append({pending_, pending_size_});
  pending_size_ = 0;
}

void LineEndingCheck::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_cr_ && c != '\n') bad_ = true;
    if (!after_cr_ && c == '\n') bad_ = true;
    after_cr_ = c == '\r';
  }
}

}  // namespace aviary::smtpd
