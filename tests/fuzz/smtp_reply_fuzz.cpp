// smtp_reply_fuzz.cpp - libFuzzer target for what a remote server can make
// the relay read: reply lines (ReplyAssembler), EHLO keywords, and the
// bounce built from its reply text.
//
// Input: lines separated by LF, fed to the assembler in turn; each finished
// reply is checked, parsed as an EHLO reply, and its text used as the
// diagnostic of a bounce, which must stay well-formed: every line CRLF
// terminated, none over 998 octets, no header injected by the server.
// The first line's text also stands for the peer's name as DNS gave it
// (MX data is just as hostile, issue 11 item 24): Remote-MTA may only
// carry a host name, and the us-ascii report only printable ASCII.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/client_reply.hpp"
#include "relay/dsn.hpp"
#include "relay/host_name.hpp"

namespace {

using namespace aviary::relay;

#define CHECK(cond, what)                                   \
  do {                                                      \
    if (!(cond)) {                                          \
      std::fprintf(stderr, "invariant broken: %s\n", what); \
      std::abort();                                         \
    }                                                       \
  } while (0)

void check_reply(const ServerReply& r) {
  CHECK(r.code == 0 || (r.code >= 200 && r.code < 600), "reply code out of range");
  if (r.code != 0) CHECK(!r.lines.empty(), "a reply without lines");
  std::string enhanced = r.enhanced();
  if (!enhanced.empty()) CHECK(enhanced[0] == '2' || enhanced[0] == '4' || enhanced[0] == '5', "bad enhanced class");
  parse_extensions(r);

  BounceFacts f;
  f.hostname = "mail.a.test";
  f.sender = "alice@a.test";
  f.queue_id = "Q";
  f.bounce_id = "B";
  std::string name = r.lines.empty() ? "mx.b.test" : r.lines.front();
  f.recipients.push_back({"bob@b.test", enhanced, r.text(), true, name + "[127.0.0.3]"});
  std::string m = build_dsn(f, "Subject: x\r\n\r\nbody\r\n");
  std::size_t start = 0;
  while (start < m.size()) {
    std::size_t end = m.find("\r\n", start);
    CHECK(end != std::string::npos, "bounce line without CRLF");
    std::string_view line(m.data() + start, end - start);
    CHECK(line.size() <= 998, "bounce line over 998 octets");
    CHECK(line.find('\n') == std::string_view::npos && line.find('\r') == std::string_view::npos,
          "bare CR or LF in the bounce");
    CHECK(!line.starts_with("Injected:"), "the server injected a header");
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      CHECK((u >= 0x20 && u < 0x7F) || u == '\t', "a control or 8-bit octet in the us-ascii bounce");
    }
    if (line.starts_with("Remote-MTA: ")) {
      CHECK(line.starts_with("Remote-MTA: dns; "), "Remote-MTA without the dns type");
      CHECK(is_host_name(line.substr(17)), "Remote-MTA is not a host name");
    }
    start = end + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ReplyAssembler assembler;
  std::size_t pos = 0, lines = 0;
  while (pos < input.size() && lines < 300) {
    std::size_t end = input.find('\n', pos);
    std::string_view line = input.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    ++lines;
    if (assembler.add(line)) check_reply(assembler.take());
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return 0;
}
