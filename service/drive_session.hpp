// drive_session.hpp - what every protocol session does around its dialogue:
// run it, turn how it ended into words for the log, and give the client its
// last word after a timeout or shutdown; and the connect and disconnect
// lines around all that.
#pragma once

#include <asio/awaitable.hpp>
#include <string>
#include <system_error>

#include "common/log.hpp"
#include "service/connection.hpp"
#include "service/server.hpp"

namespace aviary::service {

// Session needs `awaitable<void> run()` and `awaitable<void> interrupted()`.
// Returns how the session ended: "quit", "client closed", "timeout", ...
template <class Session>
asio::awaitable<std::string> drive_session(Session& session, Connection& conn, const char* daemon) {
  std::string ending = "quit";
  try {
    co_await session.run();
  } catch (const std::system_error& e) {
    ending = e.code() == asio::error::eof ? "client closed" : e.code().message();
  } catch (const std::exception& e) {
    ending = e.what();
    log::error(daemon, ": session with [", address_text(conn.peer()), "] failed: ", e.what());
  }
  if (conn.interrupted() != Interrupt::none) {
    ending = conn.interrupted() == Interrupt::timeout ? "timeout" : "shutdown";
    try {
      co_await session.interrupted();
    } catch (const std::system_error&) {
      // The peer is gone too; nothing more to say.
    }
  }
  co_return ending;
}

// The whole life of `session` on `conn`: the connection known to `control`
// while it runs (shutdown reaches it through that), "connect from" and
// "disconnect from ... <session.summary()> (<how it ended>)" in the log.
template <class Session>
asio::awaitable<void> serve_session(Session& session, Connection& conn, SessionControl& control, const char* daemon,
                                    const std::string& listener) {
  control.connection = &conn;
  const std::string peer = address_text(conn.peer());
  log::info(daemon, ": connect from [", peer, "] listener=", listener);
  std::string ending = co_await drive_session(session, conn, daemon);
  control.connection = nullptr;
  log::info(daemon, ": disconnect from [", peer, "] ", session.summary(), " (", ending, ")");
}

}  // namespace aviary::service
