// pop3_command_fuzz.cpp - libFuzzer target for the POP3 command parser, the
// SASL PLAIN decoder and the RETR/TOP byte-stuffing.
//
// The first byte picks the session flags and a TOP line count; the rest is
// split at "\n" into command lines for the AUTHORIZATION-state table and,
// in a second pass, used as a message for MessageStream, whose output is
// checked against the rules of RFC 1939 §3.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "common/message_stream.hpp"
#include "pop3d/commands.hpp"
#include "tests/fuzz/check.hpp"

namespace {

void fuzz_commands(std::uint8_t flags, std::string_view input) {
  using namespace aviary::pop3d;
  SessionState state;
  state.tls = flags & 1;
  state.tls_available = flags & 2;
  state.allow_plaintext = flags & 4;
  while (!input.empty()) {
    auto lf = input.find('\n');
    std::string_view line = input.substr(0, lf);
    input = lf == std::string_view::npos ? std::string_view() : input.substr(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_command_line) continue;  // the session refuses these before the table
    Reply reply = handle_command(state, line);
    std::string wire = format(reply);
    CHECK(wire.size() >= 5 && wire.substr(wire.size() - 2) == "\r\n", "a reply ends in CRLF");
    CHECK(state.state == State::authorization, "no command table path logs in without a password check");
    if (reply.is<next::Authenticate>()) CHECK(state.login_allowed(), "credentials only where login is allowed");
    if (reply.is<next::SaslContinue>()) plain_response(line);
  }
}

void fuzz_stream(std::uint8_t flags, std::string_view message) {
  using aviary::MessageStream;
  std::optional<std::size_t> top;
  if (flags & 8) top = (flags >> 4) & 7;
  std::string_view prefix = message.substr(0, message.size() / 3);
  std::string_view body = message.substr(prefix.size());
  MessageStream stream(top);
  std::string out;
  int rounds = 0;
  while (stream.next(prefix, body, out, 1 + flags % 97)) CHECK(++rounds < 1000000, "the stream ends");
  CHECK(out.size() >= 3 && out.substr(out.size() - 3) == ".\r\n", "ends with the terminator");
  // Before the terminator, no line is a lone "." and every "." at a line
  // start is doubled.
  std::string_view text(out);
  text.remove_suffix(3);
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (line_start && text[i] == '.') {
      CHECK(i + 1 < text.size() && text[i + 1] == '.', "a leading dot is stuffed");
      ++i;
    }
    line_start = text[i] == '\n';
  }
  CHECK(text.empty() || text.back() == '\n', "the last line is complete before the terminator");
  if (!top) CHECK(stream.octets() == message.size(), "RETR sends the whole message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz_commands(data[0], input);
  fuzz_stream(data[0], input);
  return 0;
}
