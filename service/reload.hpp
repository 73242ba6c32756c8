// reload.hpp - SIGHUP: re-read what can change under running sessions.
//
// Reloaded: the TLS certificate and private key, from the paths in the
// config the daemon started with (a renewed certificate is the routine
// reason to reload a mail server). New handshakes use the new pair; open
// sessions, TLS or not, go on undisturbed. A new pair that cannot be used
// is logged and the old one stays.
//
// Not reloaded, because a restart (SIGTERM drains sessions) is the safe way
// to change them: listeners and metrics addresses (bound as root before the
// privilege drop), storage (the open LMDB environment), user and group
// (given up for good), and everything sessions read from Config without a
// lock (hostname, limits, timeouts, relay settings): swapping those under
// running sessions would be a data race. The config file itself is not
// read again, so the certificate paths do not change either.
//
// After the privilege drop the files are read as the daemon's user: the key
// must be readable by it (e.g. by group aviary), or every reload fails and
// the certificate loaded at start stays in use.
#pragma once

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <memory>
#include <string>

#include "service/tls.hpp"

namespace aviary::service {

// Reloader - from construction on, SIGHUP no longer ends the process: each
// one reloads `tls` (null when the daemon has no TLS) on an I/O thread of
// `io` and logs the outcome under `name`.
class Reloader {
 public:
  Reloader(asio::io_context& io, std::string name, std::shared_ptr<ServerTls> tls);
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

 private:
  void wait();
  void reload();

  std::string name_;
  std::shared_ptr<ServerTls> tls_;
  asio::signal_set signals_;
};

}  // namespace aviary::service
