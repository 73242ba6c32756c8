// smtpd_data_reader_test.cpp - the DATA body reader (RFC 5321 §4.1.1.4,
// §4.5.2, §4.5.3.1.6) and the BDAT line-ending check.
//
// Every case is fed in one piece, byte by byte and (for short inputs) split
// at every point: the socket may cut the input anywhere and the outcome must
// not depend on where.
#include "smtpd/data_reader.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace aviary::smtpd {
namespace {

constexpr std::size_t all = std::string::npos;  // "consumes the whole input"

// Records what the reader hands over and checks that it never hands over
// anything once it has found a problem.
class RecordingSink : public MessageSink {
 public:
  void watch(const DataReader* reader) { reader_ = reader; }
  void append(std::string_view bytes) override {
    ++appends;
    if (reader_ && reader_->problem() != BodyProblem::none) ++after_problem;
    data.append(bytes);
  }
  std::string data;
  int appends = 0;
  int after_problem = 0;

 private:
  const DataReader* reader_ = nullptr;
};

struct Outcome {
  bool done = false;
  BodyProblem problem = BodyProblem::none;
  std::uint64_t size = 0;
  std::size_t consumed = 0;
  std::string data;
  int after_problem = 0;
};

// Feeds `pieces` in order, as the session does: stop once done.
Outcome run(const std::vector<std::string>& pieces, std::uint64_t max_size) {
  RecordingSink sink;
  DataReader reader(max_size, sink);
  sink.watch(&reader);
  Outcome out;
  for (const auto& piece : pieces) {
    if (reader.done()) break;
    std::size_t used = reader.feed(piece);
    EXPECT_LE(used, piece.size());
    if (!reader.done()) {
      EXPECT_EQ(used, piece.size()) << "stopped early without the terminator";
    }
    out.consumed += used;
  }
  out.done = reader.done();
  out.problem = reader.problem();
  out.size = reader.size();
  out.data = sink.data;
  out.after_problem = sink.after_problem;
  return out;
}

std::vector<std::string> in_chunks(const std::string& input, std::size_t chunk) {
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < input.size(); i += chunk) pieces.push_back(input.substr(i, chunk));
  return pieces;
}

const char* name(BodyProblem p) {
  switch (p) {
    case BodyProblem::none: return "none";
    case BodyProblem::too_big: return "too_big";
    case BodyProblem::bare_line_end: return "bare_line_end";
  }
  return "?";
}

struct DataCase {
  std::string label;
  std::string input;
  std::uint64_t max_size;
  bool done;
  BodyProblem problem;
  std::string message;   // what the sink gets (checked when problem is none)
  std::size_t consumed;  // `all` for the whole input
};
void PrintTo(const DataCase& c, std::ostream* os) { *os << c.label; }
std::string case_name(const testing::TestParamInfo<DataCase>& info) { return info.param.label; }

std::string line(std::size_t n, char c = 'x') { return std::string(n, c) + "\r\n"; }

constexpr std::uint64_t big = 1 << 20;
const BodyProblem none = BodyProblem::none;
const BodyProblem bare = BodyProblem::bare_line_end;
const BodyProblem too_big = BodyProblem::too_big;

const std::vector<DataCase> data_cases = {
    // Plain messages.
    {"one_line", "Subject: hi\r\n.\r\n", big, true, none, "Subject: hi\r\n", all},
    {"two_lines", "a\r\nb\r\n.\r\n", big, true, none, "a\r\nb\r\n", all},
    {"empty_lines_kept", "a\r\n\r\n\r\nb\r\n.\r\n", big, true, none, "a\r\n\r\n\r\nb\r\n", all},
    {"terminator_at_very_start", ".\r\n", big, true, none, "", all},
    {"terminator_at_start_with_zero_limit", ".\r\n", 0, true, none, "", all},
    {"empty_line_then_terminator", "\r\n.\r\n", big, true, none, "\r\n", all},
    {"eight_bit_bytes_pass", "caf\xC3\xA9 \xFF\x80\r\n.\r\n", big, true, none, "caf\xC3\xA9 \xFF\x80\r\n", all},
    {"nul_passes", std::string("a\0b\r\n.\r\n", 8), big, true, none, std::string("a\0b\r\n", 5), all},
    // Dot-unstuffing (§4.5.2).
    {"stuffed_dot", "..\r\n.\r\n", big, true, none, ".\r\n", all},
    {"stuffed_dot_text", "..hidden\r\n.\r\n", big, true, none, ".hidden\r\n", all},
    {"two_stuffed_dots", "...\r\n.\r\n", big, true, none, "..\r\n", all},
    {"leading_dot_deleted", ".x\r\n.\r\n", big, true, none, "x\r\n", all},
    {"dot_in_middle_kept", "a.b\r\n.\r\n", big, true, none, "a.b\r\n", all},
    {"dot_at_end_of_line_kept", "a.\r\n.\r\n", big, true, none, "a.\r\n", all},
    {"stuffed_dot_after_first_line", "a\r\n..b\r\n.\r\n", big, true, none, "a\r\n.b\r\n", all},
    {"dot_space_is_not_terminator", ". \r\n.\r\n", big, true, none, " \r\n", all},
    // Only <CRLF>.<CRLF> ends the message; the rest is the next command.
    {"bytes_after_terminator_not_consumed", "a\r\n.\r\nQUIT\r\n", big, true, none, "a\r\n", 6},
    {"pipelined_after_empty_message", ".\r\nMAIL FROM:<>\r\n", big, true, none, "", 3},
    {"second_terminator_not_consumed", "a\r\n.\r\n.\r\n", big, true, none, "a\r\n", 6},
    {"no_terminator_yet", "a\r\nb\r\n", big, false, none, "a\r\nb\r\n", all},
    {"no_terminator_dot_cr", "a\r\n.\r", big, false, none, "a\r\n", all},
    {"no_terminator_dot", "a\r\n.", big, false, none, "a\r\n", all},
    {"empty_input", "", big, false, none, "", all},
    // SMTP smuggling: bare LF/CR never end the message, and are refused.
    {"smuggle_lf_dot_lf", "a\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_lf_dot_crlf", "a\n.\r\nMAIL FROM:<x@evil.test>\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_crlf_dot_lf", "a\r\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_cr_dot_cr", "a\r.\rMAIL FROM:<x@evil.test>\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_cr_dot_crlf", "a\r.\r\nb\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_crlf_dot_cr_x", "a\r\n.\rb\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_at_start_dot_lf", ".\nb\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_at_start_lf_dot_lf", "\n.\nb\r\n.\r\n", big, true, bare, "", all},
    {"smuggle_lf_dot_lf_never_ends", "a\n.\n", big, false, bare, "", all},
    {"smuggle_crlf_dot_lf_never_ends", "a\r\n.\n", big, false, bare, "", all},
    {"smuggle_dot_cr_cr_lf", "a\r\n.\r\r\n.\r\n", big, true, bare, "", all},
    {"bare_lf", "a\nb\r\n.\r\n", big, true, bare, "", all},
    {"bare_cr", "a\rb\r\n.\r\n", big, true, bare, "", all},
    {"cr_cr_lf", "a\r\r\n.\r\n", big, true, bare, "", all},
    {"lf_cr", "a\n\r\n.\r\n", big, true, bare, "", all},
    {"bare_lf_at_start", "\n.\r\n", big, false, bare, "", all},
    {"bare_lf_then_terminator_later", "\nx\r\n.\r\n", big, true, bare, "", all},
    // Text lines of any length up to the message size are stored unchanged
    // (issue 11 item 17: real senders exceed RFC 5321 §4.5.3.1.6's 1000).
    {"line_998_ok", line(998) + ".\r\n", big, true, none, line(998), all},
    {"line_999_ok", line(999) + ".\r\n", big, true, none, line(999), all},
    {"line_1000_ok", line(1000) + ".\r\n", big, true, none, line(1000), all},
    {"second_line_5000_ok", "a\r\n" + line(5000) + "b\r\n.\r\n", big, true, none, "a\r\n" + line(5000) + "b\r\n", all},
    {"line_100000_ok", line(100000) + ".\r\n", big, true, none, line(100000), all},
    {"many_long_lines_ok", line(2000) + line(3000) + line(998) + ".\r\n", big, true, none,
     line(2000) + line(3000) + line(998), all},
    {"stuffed_long_line_ok", "." + line(4000, '.') + ".\r\n", big, true, none, line(4000, '.'), all},
    {"long_line_without_crlf_is_one_line", std::string(3000, 'x') + "\r\n.\r\n", big, true, none,
     std::string(3000, 'x') + "\r\n", all},
    // A long line is still limited by the message size.
    {"long_line_over_the_size", line(5000) + ".\r\n", 4000, true, too_big, "", all},
    // Size cap, counted after unstuffing, with the CRLFs, without the terminator.
    {"size_exactly_max", "abc\r\n.\r\n", 5, true, none, "abc\r\n", all},
    {"size_max_plus_one", "abc\r\n.\r\n", 4, true, too_big, "", all},
    {"size_counts_unstuffed", "..\r\n.\r\n", 3, true, none, ".\r\n", all},
    {"size_unstuffed_plus_one", "..\r\n.\r\n", 2, true, too_big, "", all},
    {"size_over_keeps_reading_to_end", "abcdef\r\nmore\r\n.\r\nQUIT\r\n", 3, true, too_big, "", 17},
    {"size_large_exact", line(998) + line(998) + ".\r\n", 2000, true, none, line(998) + line(998), all},
    {"size_large_plus_one", line(998) + line(998) + ".\r\n", 1999, true, too_big, "", all},
};

class DataReaderCases : public testing::TestWithParam<DataCase> {
 protected:
  void expect(const Outcome& got, const std::string& how) {
    const DataCase& c = GetParam();
    std::size_t consumed = c.consumed == all ? c.input.size() : c.consumed;
    EXPECT_EQ(got.done, c.done) << how;
    EXPECT_STREQ(name(got.problem), name(c.problem)) << how;
    EXPECT_EQ(got.consumed, consumed) << how;
    EXPECT_EQ(got.after_problem, 0) << how << ": sink written after a problem";
    if (c.problem == BodyProblem::none) {
      EXPECT_EQ(got.data, c.message) << how;
      EXPECT_EQ(got.size, c.message.size()) << how;
    }
  }
};

TEST_P(DataReaderCases, OnePiece) { expect(run({GetParam().input}, GetParam().max_size), "one piece"); }

TEST_P(DataReaderCases, ByteByByte) { expect(run(in_chunks(GetParam().input, 1), GetParam().max_size), "byte by byte"); }

TEST_P(DataReaderCases, EverySplitPoint) {
  const DataCase& c = GetParam();
  if (c.input.size() <= 64) {
    for (std::size_t i = 0; i <= c.input.size(); ++i) {
      expect(run({c.input.substr(0, i), c.input.substr(i)}, c.max_size), "split at " + std::to_string(i));
    }
  }
  // Long inputs: chunk sizes around the reader's internal buffer.
  for (std::size_t chunk : {3, 7, 999, 1000, 1023, 1024, 1025}) {
    expect(run(in_chunks(c.input, chunk), c.max_size), "chunks of " + std::to_string(chunk));
  }
}

INSTANTIATE_TEST_SUITE_P(Smtpd, DataReaderCases, testing::ValuesIn(data_cases), case_name);

// Odds and ends that a table does not show well.

TEST(SmtpdDataReader, NothingMoreAfterDone) {
  RecordingSink sink;
  DataReader reader(big, sink);
  EXPECT_EQ(reader.feed("a\r\n.\r\n"), 6u);
  ASSERT_TRUE(reader.done());
  EXPECT_EQ(reader.feed("more\r\n.\r\n"), 0u);
  EXPECT_EQ(sink.data, "a\r\n");
  EXPECT_EQ(reader.size(), 3u);
}

TEST(SmtpdDataReader, LargeMessageArrivesWhole) {
  // Well past the 1024-octet staging buffer, with stuffed dots across it.
  std::string wire;
  std::string message;
  for (int i = 0; i < 500; ++i) {
    std::string text(static_cast<std::size_t>(i % 97), static_cast<char>('a' + i % 26));
    if (i % 3 == 0) text.insert(0, ".");
    wire += (text.starts_with(".") ? "." : "") + text + "\r\n";
    message += text + "\r\n";
  }
  wire += ".\r\n";
  for (std::size_t chunk : {1, 5, 512, 1024, 4096, 1000000}) {
    Outcome got = run(in_chunks(wire, chunk), big);
    EXPECT_TRUE(got.done) << chunk;
    EXPECT_EQ(got.problem, BodyProblem::none) << chunk;
    EXPECT_EQ(got.data, message) << chunk;
    EXPECT_EQ(got.size, message.size()) << chunk;
    EXPECT_EQ(got.consumed, wire.size()) << chunk;
  }
}

TEST(SmtpdDataReader, SinkStopsAtFirstProblem) {
  // Fed byte by byte, the bytes before the bare LF may reach the sink; nothing
  // after it may, and the first problem is the one reported.
  std::string input = "good\r\nbad\nthen too long " + std::string(2000, 'x') + "\r\n.\r\n";
  RecordingSink sink;
  DataReader reader(10, sink);
  sink.watch(&reader);
  for (char c : input) reader.feed(std::string_view(&c, 1));
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.problem(), BodyProblem::bare_line_end);
  EXPECT_EQ(sink.after_problem, 0);
  EXPECT_TRUE(std::string("good\r\nbad").starts_with(sink.data)) << sink.data;
}

// LineEndingCheck (BDAT) ------------------------------------------------------------

struct LineEndingCase {
  std::string label;
  std::vector<std::string> chunks;
  bool ok;
  bool ok_at_end;
};
void PrintTo(const LineEndingCase& c, std::ostream* os) { *os << c.label; }
std::string line_case_name(const testing::TestParamInfo<LineEndingCase>& info) { return info.param.label; }

const std::vector<LineEndingCase> line_ending_cases = {
    {"nothing", {}, true, true},
    {"empty_chunk", {""}, true, true},
    {"crlf_lines", {"a\r\nb\r\n"}, true, true},
    {"no_line_end_at_all", {"abc"}, true, true},
    {"binary_without_cr_lf", {std::string("\0\x01\xFF", 3)}, true, true},
    {"crlf_split_across_chunks", {"a\r", "\nb"}, true, true},
    {"crlf_split_with_empty_chunk_between", {"a\r", "", "\n"}, true, true},
    {"trailing_cr_pending", {"a\r"}, true, false},
    {"trailing_cr_in_last_chunk", {"a\r\n", "b\r"}, true, false},
    {"lone_cr_chunk", {"\r"}, true, false},
    {"bare_lf", {"a\nb"}, false, false},
    {"bare_lf_at_start", {"\n"}, false, false},
    {"bare_lf_at_chunk_start", {"a", "\nb"}, false, false},
    {"bare_cr", {"a\rb"}, false, false},
    {"bare_cr_at_chunk_end", {"a\r", "b"}, false, false},
    {"cr_cr_lf", {"a\r\r\n"}, false, false},
    {"cr_cr_lf_across_chunks", {"a\r", "\r\n"}, false, false},
    {"lf_cr_lf", {"\n\r\n"}, false, false},
    {"bad_stays_bad", {"a\nb", "c\r\n"}, false, false},
};

class LineEndingCheckCases : public testing::TestWithParam<LineEndingCase> {};

TEST_P(LineEndingCheckCases, AcrossChunks) {
  const LineEndingCase& c = GetParam();
  LineEndingCheck check;
  for (const auto& chunk : c.chunks) check.feed(chunk);
  EXPECT_EQ(check.ok(), c.ok);
  EXPECT_EQ(check.ok_at_end(), c.ok_at_end);

  // The same bytes byte by byte give the same answer.
  LineEndingCheck bytewise;
  for (const auto& chunk : c.chunks) {
    for (char b : chunk) bytewise.feed(std::string_view(&b, 1));
  }
  EXPECT_EQ(bytewise.ok(), c.ok);
  EXPECT_EQ(bytewise.ok_at_end(), c.ok_at_end);
}

INSTANTIATE_TEST_SUITE_P(Smtpd, LineEndingCheckCases, testing::ValuesIn(line_ending_cases), line_case_name);

}  // namespace
}  // namespace aviary::smtpd
