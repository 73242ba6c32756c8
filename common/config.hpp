// config.hpp - the one TOML file shared by aviary-smtpd, aviary-pop3d and aviaryctl.
//
// Loading validates everything up front: a program that starts has a config
// it can serve with, and a bad one stops it with a message naming the file,
// line and key (SPEC.md, "Configuration").
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.hpp"  // is_domain_name
#include "common/password.hpp"
#include "common/result.hpp"

namespace aviary {

inline constexpr const char* default_config_path = "/etc/aviary/aviary.toml";

// An address to listen on or connect to. `host` is an IP literal without
// brackets, or (for next hops only) a lowercase host name.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  // "1.2.3.4:25", "[::1]:25", "mx.partner.test:25".
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct Config {
  std::string source;    // the file it was loaded from
  std::string hostname;  // default: gethostname()
  // Started as root, each daemon binds its ports and opens the store, then
  // runs as this user for good (common/privileges.hpp). Empty: it runs as
  // started. `group` defaults to the user's primary group.
  std::string user;
  std::string group;

  struct Storage {
    std::string path = "/var/lib/aviary";
    std::uint64_t map_size = 16ull << 30;
  } storage;

  struct Tls {
    std::string certificate;
    std::string private_key;
    bool enabled() const { return !certificate.empty() && !private_key.empty(); }
  } tls;

  struct Smtpd {
    std::vector<Endpoint> listen;       // default 0.0.0.0:25 and [::]:25
    std::vector<Endpoint> submission;   // default 0.0.0.0:587, [::]:587 with [tls], else none
    std::vector<Endpoint> submissions;  // default 0.0.0.0:465, [::]:465 with [tls], else none
    std::uint64_t max_message_size = 35ull << 20;
    std::uint32_t max_recipients = 100;
    std::optional<Endpoint> metrics;    // default 127.0.0.1:9101; "" disables
    std::uint32_t io_threads = 0;       // 0 = one per core
    std::uint32_t max_connections = 1000;             // port 25 sessions
    std::uint32_t max_submission_connections = 200;   // 587 and 465 sessions, a pool of their own
    std::uint32_t max_connections_per_ip = 50;        // per pool; IPv6 counts per /64
    std::uint32_t max_errors = 10;      // then the session is closed
    std::uint32_t junk_command_limit = 100;  // NOOP/RSET/VRFY/EXPN/HELP without mail, then 421
    std::uint32_t max_hops = 50;        // more Received: fields than this: 554 5.4.0 (a loop)
    // RFC 5321 §4.5.3.2: at least 5 minutes for a command, 3 for each data block.
    std::chrono::seconds command_timeout{300};
    std::chrono::seconds data_timeout{180};
    // At 80% of a pool's limit (admission::stress_percent) every read gets at most this.
    std::chrono::seconds stress_command_timeout{10};
    // Whatever the client does, a session ends after session_deadline, and
    // one message's data (DATA, or one BDAT chunk) must arrive within data_deadline.
    std::chrono::seconds session_deadline{30 * 60};
    std::chrono::seconds data_deadline{15 * 60};
    // SIGTERM: how long open transactions may take before 421.
    std::chrono::seconds shutdown_timeout{30};
    // AUTH on the submission listeners (as Dovecot): a failure is answered
    // after auth_failure_delay, and delays later attempts from its address
    // and for its account by that, doubling per failure up to
    // auth_max_delay; an address with max_auth_failures failures in an
    // hour gets 454 outright. At most max_concurrent_auth_per_ip logins of
    // one address (IPv6: one /64) are checked at a time.
    std::chrono::seconds auth_failure_delay{2};
    std::chrono::seconds auth_max_delay{15};
    std::uint32_t max_auth_failures = 100;
    std::uint32_t max_concurrent_auth_per_ip = 3;
  } smtpd;

  struct Pop3d {
    std::vector<Endpoint> listen;      // default 0.0.0.0:110, [::]:110
    std::vector<Endpoint> tls_listen;  // default 0.0.0.0:995, [::]:995 with [tls], else none
    bool allow_plaintext_auth = false;
    std::optional<Endpoint> metrics;   // default 127.0.0.1:9102; "" disables
    std::uint32_t io_threads = 0;      // 0 = one per core
    std::uint32_t max_connections = 1000;
    std::uint32_t max_connections_per_ip = 50;
    std::uint32_t max_errors = 20;     // unknown commands and syntax errors (as Dovecot), then closed
    std::chrono::seconds idle_timeout{600};  // RFC 1939 §3: autologout at least 10 minutes
    std::chrono::seconds shutdown_timeout{10};
    // Logins, as for smtpd above: the pause after a failure, the growing
    // delay it adds to later attempts (at most auth_max_delay), the ban
    // threshold per address and hour, logins of one address at a time.
    std::chrono::seconds auth_failure_delay{2};
    std::chrono::seconds auth_max_delay{15};
    std::uint32_t max_auth_failures = 100;
    std::uint32_t max_concurrent_auth_per_ip = 3;
  } pop3d;

  struct Relay {
    std::optional<Endpoint> dns;              // nullopt = the system resolver
    std::uint16_t smtp_port = 25;
    std::optional<Endpoint> smarthost;        // nullopt = deliver to MX hosts
    std::map<std::string, Endpoint> routes;   // lowercase domain -> next hop
    std::vector<std::chrono::seconds> retry;  // default 1m 5m 15m 1h 2h 4h; the last repeats
    std::chrono::seconds max_queue_time{5 * 86400};
    // The longest one outbound connection set-up or one transaction may
    // take, however the peer paces its replies (a tarpit dribbling bytes).
    std::chrono::seconds transaction_deadline{600};
    std::uint32_t connections_per_destination = 5;  // outbound connections to one next hop
    std::uint32_t max_connections = 100;            // outbound connections in all
  } relay;

  PasswordParams password;  // optional [password] table: memory, iterations, parallelism

  // What loading found in [pop3d] that stops only aviary-pop3d (aviaryctl
  // and aviary-smtpd do not use it), or that it logs at start; each as
  // "<file>:<line>: <key>: <what>".
  std::vector<std::string> pop3d_warnings;
  std::vector<std::string> pop3d_errors;
};

// What load_config and parse_config throw; what() is the whole message,
// "<file>:<line>: <key>: <what is wrong>", ready for stderr.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads and validates `path`. Throws ConfigError.
Config load_config(const std::string& path);
// Validates TOML text; `source_name` is the file name used in messages and in
// Config::source. Throws ConfigError.
Config parse_config(std::string_view toml_text, const std::string& source_name);

// Which hosts an endpoint may name.
enum class HostKind {
  ip_literal,  // listeners, metrics, DNS: something bind()/connect() takes as is
  any,         // next hops: also a host name, resolved when mail is sent
};

// "IPv4:PORT", "[IPv6]:PORT" or, with HostKind::any, "name:PORT". IP literals
// come back in canonical form ("[0::1]" -> "::1"), names in lowercase. The
// error message says what is wrong, without the key.
Result<Endpoint> parse_endpoint(std::string_view text, HostKind kind);

// Why `password` is unsafe for `hashing_threads` concurrent Argon2 hashes on
// a machine with `ram_bytes` of memory (more than a quarter of it: each
// daemon hashes on its own pool), or nullopt.
std::optional<std::string> password_memory_problem(const PasswordParams& password, unsigned hashing_threads,
                                                   std::uint64_t ram_bytes);


}  // namespace aviary
