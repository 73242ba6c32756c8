// tls.hpp - the server TLS context shared by every listener of a daemon, and
// the holder that lets SIGHUP replace it under running sessions.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/result.hpp"

namespace asio::ssl {
class context;
}

namespace aviary {

// TLS 1.2 or newer with Mozilla's "intermediate" cipher list (forward
// secret AEAD suites only), certificate chain and key from PEM files. Throws
// std::runtime_error naming the file when one cannot be used.
std::shared_ptr<asio::ssl::context> make_server_tls(const std::string& certificate, const std::string& private_key);

// ServerTls - the daemon's current server context. A session asks for
// current() when it starts TLS (STARTTLS, STLS or an implicit-TLS accept)
// and keeps that context for its lifetime; reload() reads the same files
// again and makes the new context current for later handshakes. Sessions
// that already use the old one are not disturbed. Thread-safe.
class ServerTls {
 public:
  // Loads the files now; throws like make_server_tls.
  ServerTls(std::string certificate, std::string private_key);

  std::shared_ptr<asio::ssl::context> current() const;
  // On failure (a missing, unreadable, broken or mismatched file) the old
  // context stays current and the error says which file and why.
  Status reload();
  const std::string& certificate() const { return certificate_; }

 private:
  std::string certificate_;
  std::string private_key_;
  mutable std::mutex mutex_;
  std::shared_ptr<asio::ssl::context> context_;
};

}  // namespace aviary
