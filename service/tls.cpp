// tls.cpp - see tls.hpp.
#include "service/tls.hpp"

#include <asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <utility>

namespace aviary {
namespace {

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

// Mozilla's "intermediate" configuration (ssl-config.mozilla.org, v5.7)
// for TLS 1.2; TLS 1.3 keeps OpenSSL's default suites, all of them AEAD.
// This is for every listener (25, 587, 465, 110, 995). The relay's client
// context keeps OpenSSL's wide default: opportunistic TLS with an old MX
// still beats plain text (RFC 7435).
constexpr const char* server_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

}  // namespace

std::shared_ptr<asio::ssl::context> make_server_tls(const std::string& certificate, const std::string& private_key) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Forward secrecy and AEAD only for TLS 1.2 (TLS 1.3 has nothing else):
  // no static-RSA key exchange, no CBC, no SHA-1 MACs.
  if (SSL_CTX_set_cipher_list(ctx, server_tls12_ciphers) != 1) {
    throw std::runtime_error(std::string("TLS cipher list: ") + openssl_error());
  }
  // The DHE suites of the list use the RFC 7919 group that fits the key.
  SSL_CTX_set_dh_auto(ctx, 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    throw std::runtime_error("tls.certificate " + certificate + ": " + openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("tls.private_key " + private_key + ": " + openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw std::runtime_error("tls.private_key " + private_key + " does not match tls.certificate " + certificate);
  }
  return context;
}

ServerTls::ServerTls(std::string certificate, std::string private_key)
    : certificate_(std::move(certificate)),
      private_key_(std::move(private_key)),
      context_(make_server_tls(certificate_, private_key_)) {}

std::shared_ptr<asio::ssl::context> ServerTls::current() const {
  std::lock_guard lock(mutex_);
  return context_;
}

Status ServerTls::reload() {
  std::shared_ptr<asio::ssl::context> fresh;
  try {
    // Built outside the lock: handshakes starting meanwhile use the old one.
    fresh = make_server_tls(certificate_, private_key_);
  } catch (const std::exception& e) {
    ERR_clear_error();  // nothing left for this I/O thread's next handshake to trip on
    return make_error(Errc::invalid, e.what());
  }
  std::shared_ptr<asio::ssl::context> old;
  {
    std::lock_guard lock(mutex_);
    old = std::exchange(context_, std::move(fresh));
  }
  return {};  // `old` goes when its last session does (or here, if none)
}

}  // namespace aviary
