// client_reply.hpp - what the outbound SMTP client reads: multi-line replies
// (RFC 5321 §4.2) and the EHLO keywords it acts on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aviary::relay {

struct ServerReply {
  int code = 0;          // 0: the peer went away or broke the protocol
  std::vector<std::string> lines;  // the text of each line, without "250-"
  // Only 2xx completes a command. 3xx asks for more (354 to DATA, 334 to
  // AUTH) and is checked by code where it is expected; anywhere else, at
  // RCPT or after the data, it is no acceptance (RFC 5321 §4.2.1, §4.3.2).
  bool positive() const { return code >= 200 && code < 300; }
  // Worth another try: 4xx, a broken peer (code 0), and an unexpected 3xx,
  // which is a protocol error and no refusal of the mail either.
  bool transient() const { return code == 0 || (code >= 300 && code < 500); }
  // "550 5.1.1 no such user" on one line, for diagnostics and logs.
  std::string text() const;
  // The RFC 3463 code of the first line ("5.1.1"), or "" when there is none.
  std::string enhanced() const;
};

// Collects the lines of one reply. add() returns true once the last line
// ("250 ...") is in; a malformed line makes code 0 and ends the reply.
class ReplyAssembler {
 public:
  bool add(std::string_view line);
  ServerReply take();

 private:
  ServerReply reply_;
};

struct Extensions {
  bool pipelining = false;
  bool starttls = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool size = false;
  std::uint64_t max_size = 0;  // 0: no limit announced
};

// From the lines of a positive EHLO reply (the first is the greeting).
Extensions parse_extensions(const ServerReply& ehlo);

}  // namespace aviary::relay
