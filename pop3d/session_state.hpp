// session_state.hpp - what a POP3 session knows between commands.
#pragma once

#include <memory>
#include <string>

#include "pop3d/maildrop.hpp"

namespace aviary::pop3d {

// RFC 1939 §3: AUTHORIZATION, then TRANSACTION; UPDATE happens inside QUIT.
enum class State { authorization, transaction };

struct SessionState {
  State state = State::authorization;
  bool tls = false;
  bool tls_available = false;    // STLS may be offered
  bool allow_plaintext = false;  // pop3d.allow_plaintext_auth
  std::string user;              // from USER, waiting for PASS
  std::unique_ptr<Maildrop> maildrop;
  unsigned errors = 0;

  // RFC 2595 §2: no passwords in the clear unless the administrator says so.
  bool login_allowed() const { return tls || allow_plaintext; }

  // tls_started - RFC 2595 §4: after the handshake the server discards what
  // it learned from the client before it, such as a USER name (`USER
  // alice`, `STLS`, `PASS` inside TLS must not log in as alice).
  void tls_started() {
    tls = true;
    user.clear();
  }
};

}  // namespace aviary::pop3d
