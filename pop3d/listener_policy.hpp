// listener_policy.hpp - what each kind of POP3 listener offers.
//
// One session and one command table serve port 110 (POP3) and 995 (POP3S);
// the differences between them are these values.
#pragma once

#include <string_view>

namespace aviary::pop3d {

struct ListenerPolicy {
  std::string_view name;  // metrics label: pop3, pop3s
  // RFC 8314 §3.3: TLS from the first byte, before the greeting.
  bool implicit_tls = false;
  // RFC 2595 §4: STLS is offered (when [tls] is configured).
  bool offers_stls = false;
};

inline constexpr ListenerPolicy pop3_listener{.name = "pop3", .offers_stls = true};
inline constexpr ListenerPolicy pop3s_listener{.name = "pop3s", .implicit_tls = true};

}  // namespace aviary::pop3d
