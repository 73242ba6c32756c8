// smtp_client.hpp - the relay's side of SMTP: one connection to a next hop,
// carrying one or more transactions (RFC 5321, with RFC 2920 PIPELINING,
// RFC 1870 SIZE, RFC 3207 STARTTLS the way Postfix's "may" level does it).
//
// One coroutine drives a connection; it must run on the executor the client
// was made with (the queue runner's strand).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "service/connection.hpp"
#include "relay/client_reply.hpp"
#include "relay/dns.hpp"
#include "storage/store.hpp"

namespace aviary::relay {

struct OutboundMessage {
  std::string id;  // ours, for logs
  std::string sender;  // "" = the null sender
  std::vector<std::string> recipients;
  std::uint64_t blob_id = 0;
  std::uint64_t size = 0;
  std::uint8_t flags = 0;  // storage::BodyFlags
};

enum class Outcome { delivered, deferred, failed };

struct RecipientOutcome {
  Outcome outcome = Outcome::deferred;
  std::string status;      // RFC 3463 code, e.g. "5.1.1"
  std::string diagnostic;  // what the server said, or why we gave up
  bool remote_reply = false;
};

struct ClientSettings {
  std::string hostname;  // for EHLO
  storage::Store* store = nullptr;  // where the bodies are
  asio::ssl::context* tls = nullptr;  // null: never STARTTLS
  // relay.transaction_deadline: one connection set-up, one transaction.
  std::chrono::seconds transaction_deadline{600};
};

class SmtpClient {
 public:
  SmtpClient(service::Executor executor, const ClientSettings& settings);
  ~SmtpClient();

  // Tries the targets in order until one greets and takes EHLO or HELO.
  // Returns why none did, or nullopt when connected.
  asio::awaitable<std::optional<std::string>> connect(const std::vector<Target>& targets);
  bool connected() const { return conn_ != nullptr; }
  // "mx.b.test[192.0.2.1]", for diagnostics.
  const std::string& peer() const { return peer_; }

  // One transaction; an outcome per recipient, in order. A broken
  // connection defers what is not settled and leaves the client unconnected.
  asio::awaitable<std::vector<RecipientOutcome>> send(const OutboundMessage& message);
  asio::awaitable<void> quit();
  // Closes the connection without QUIT (its state is unknown).
  void disconnect() { drop(); }

 private:
  asio::awaitable<std::optional<std::string>> open(const Target& target, bool use_tls);
  asio::awaitable<ServerReply> read_reply(std::chrono::seconds timeout);
  asio::awaitable<ServerReply> command(const std::string& line, std::chrono::seconds timeout);
  asio::awaitable<void> send_body(const OutboundMessage& message);
  void drop();
  // The per-read timeouts bound each wait, not the sum: a peer sending a
  // byte now and then would hold the worker forever. A Deadline bounds a
  // whole set-up or transaction; when it passes, the connection is
  // interrupted and every later wait on it fails.
  struct Deadline;
  void arm_deadline(std::chrono::seconds limit);
  void disarm_deadline();
  std::string deadline_text() const;

  service::Executor executor_;
  ClientSettings settings_;
  std::unique_ptr<service::Connection> conn_;
  Extensions ext_;
  std::string peer_;
  bool dirty_ = false;  // a transaction was left open: RSET first
  asio::steady_timer deadline_;
  std::chrono::seconds deadline_limit_{0};
  bool deadline_passed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace aviary::relay
