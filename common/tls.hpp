// tls.hpp - the server TLS context shared by every listener of a daemon.
#pragma once

#include <memory>
#include <string>

namespace asio::ssl {
class context;
}

namespace aviary {

// TLS 1.2 or newer, certificate chain and key from PEM files. Throws
// std::runtime_error naming the file when one cannot be used.
std::shared_ptr<asio::ssl::context> make_server_tls(const std::string& certificate, const std::string& private_key);

}  // namespace aviary
