// reload.cpp - see reload.hpp.
#include "service/reload.hpp"

#include <signal.h>

#include "common/log.hpp"

namespace aviary::service {

Reloader::Reloader(asio::io_context& io, std::string name, std::shared_ptr<ServerTls> tls)
    : name_(std::move(name)), tls_(std::move(tls)), signals_(io, SIGHUP) {
  wait();
}

void Reloader::wait() {
  signals_.async_wait([this](std::error_code ec, int) {
    if (ec) return;  // cancelled: the daemon is stopping
    reload();
    wait();
  });
}

void Reloader::reload() {
  if (!tls_) {
    log::info(name_, ": SIGHUP: no TLS configured, nothing to reload");
    return;
  }
  if (Status loaded = tls_->reload(); !loaded) {
    log::error(name_, ": SIGHUP: keeping the TLS certificate in use: ", loaded.error().message);
    return;
  }
  log::info(name_, ": SIGHUP: reloaded the TLS certificate ", tls_->certificate());
}

}  // namespace aviary::service
