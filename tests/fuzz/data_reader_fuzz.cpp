// data_reader_fuzz.cpp - libFuzzer target for the DATA reader and the BDAT
// line-ending check, each compared with a simple reference model.
//
// Input layout: byte 0 picks the size limit (bits 0-2) and whether the
// message is closed by an appended "\r\n.\r\n" (bit 3); bytes 1-4 are chunk
// sizes, used in turn (each 1-256 octets), to cut the rest - the body as it
// comes off the socket - into the pieces handed to feed().
//
// The reference works on whole lines: a line ends at the first CRLF, the line
// "." ends the message, a leading dot is dropped, any other CR or LF is bare;
// lines may be of any length (only the message size limits them).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtpd/data_reader.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace aviary::smtpd;

struct Reference {
  bool done = false;
  std::size_t consumed = 0;   // up to and including the terminator, or everything
  std::string message;        // what the sink must hold when nothing is wrong
  bool definite_problem = false;  // the reader must report a problem
};

Reference reference(std::string_view in, std::uint64_t max_size) {
  Reference ref;
  std::size_t pos = 0;
  while (pos < in.size()) {
    std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      // An unfinished line: the reader has emitted what it can already.
      std::string_view part = in.substr(pos);
      if (part.find('\n') != std::string_view::npos) ref.definite_problem = true;
      std::size_t cr = part.find('\r');
      if (cr != std::string_view::npos && cr + 1 != part.size()) ref.definite_problem = true;
      if (part == "." || part == ".\r") {
        // A dot (and CR) at a line start waits to see whether it ends the message.
      } else if (!part.empty() && part[0] == '.') {
        ref.message.append(part.substr(1));
      } else {
        ref.message.append(part);
      }
      pos = in.size();
      break;
    }
    std::string_view content = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (content == ".") {
      ref.done = true;
      break;
    }
    if (content.find_first_of("\r\n") != std::string_view::npos) ref.definite_problem = true;
    if (!content.empty() && content[0] == '.') content.remove_prefix(1);
    ref.message.append(content);
    ref.message.append("\r\n");
  }
  ref.consumed = pos;
  if (ref.message.size() > max_size) ref.definite_problem = true;
  return ref;
}

class CheckedSink : public MessageSink {
 public:
  explicit CheckedSink(const DataReader*& reader) : reader_(reader) {}
  void append(std::string_view bytes) override {
    CHECK(reader_->problem() == BodyProblem::none, "nothing reaches the sink after a problem");
    CHECK(!bytes.empty(), "no empty appends");
    data.append(bytes);
  }
  std::string data;

 private:
  const DataReader*& reader_;
};

void check_line_endings(std::string_view body, const std::vector<std::string_view>& pieces) {
  LineEndingCheck check;
  for (auto piece : pieces) check.feed(piece);
  bool ok = true;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) ok = false;
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] != '\n') ok = false;
  }
  bool trailing_cr = !body.empty() && body.back() == '\r';
  CHECK(check.ok() == ok, "LineEndingCheck::ok matches the reference");
  CHECK(check.ok_at_end() == (ok && !trailing_cr), "LineEndingCheck::ok_at_end matches the reference");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  static constexpr std::uint64_t limits[] = {0, 1, 5, 100, 998, 1000, 4096, 1u << 20};
  const std::uint64_t max_size = limits[data[0] & 7];
  const bool close = (data[0] & 8) != 0;
  const std::uint8_t chunk_sizes[4] = {data[1], data[2], data[3], data[4]};
  std::string body(reinterpret_cast<const char*>(data) + 5, size - 5);
  if (close) body += "\r\n.\r\n";

  std::vector<std::string_view> pieces;
  for (std::size_t pos = 0, i = 0; pos < body.size(); ++i) {
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(chunk_sizes[i % 4]) + 1, body.size() - pos);
    pieces.push_back(std::string_view(body).substr(pos, n));
    pos += n;
  }

  const DataReader* watched = nullptr;
  CheckedSink sink(watched);
  DataReader reader(max_size, sink);
  watched = &reader;
  std::size_t consumed = 0;
  for (auto piece : pieces) {
    if (reader.done()) {
      CHECK(reader.feed(piece) == 0, "nothing is consumed after the terminator");
      continue;
    }
    std::size_t used = reader.feed(piece);
    CHECK(used <= piece.size(), "never consumes more than given");
    if (!reader.done()) CHECK(used == piece.size(), "consumes everything until the terminator");
    consumed += used;
  }

  Reference ref = reference(body, max_size);
  CHECK(reader.done() == ref.done, "done exactly when the reference finds the terminator");
  CHECK(consumed == ref.consumed, "consumed up to the terminator");
  if (reader.done()) {
    CHECK(consumed >= 3 && body.substr(consumed - 3, 3) == ".\r\n", "ends after .CRLF");
    CHECK(consumed == 3 || body.substr(consumed - 5, 2) == "\r\n", "the dot is at a line start");
  }
  if (close) CHECK(reader.done(), "an appended CRLF.CRLF always ends the message");
  if (reader.problem() == BodyProblem::none) {
    CHECK(!ref.definite_problem, "a problem of the reference is reported");
    CHECK(sink.data == ref.message, "the sink holds the unstuffed message");
    CHECK(reader.size() == ref.message.size(), "size() is the unstuffed size");
  } else {
    CHECK(ref.definite_problem, "no problem where the reference sees none");
  }
  // Octets are counted even after a problem, so size() always matches.
  CHECK(reader.size() == ref.message.size(), "size() counts the unstuffed octets");
  if (reader.problem() == BodyProblem::too_big) CHECK(ref.message.size() > max_size, "too_big only over the limit");

  check_line_endings(body, pieces);
  return 0;
}
