// config.cpp - reads aviary.toml and checks every key, value and cross-rule.
//
// Each table's keys are listed once below (storage_keys, smtpd_keys, ...),
// each with the function that reads it; a key not listed is an error. The
// first problem in file order stops loading, reported as
// "<file>:<line>: <key>: <what is wrong>".
#include "common/config.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <thread>
#include <toml++/toml.h>
#include <utility>

#include "common/address.hpp"
#include "common/units.hpp"

namespace aviary {
namespace {

// quoted - a value as it would be written in TOML, for messages.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (unsigned char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch == 0x7f) {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += "\\u00";
      out += hex[ch >> 4];
      out += hex[ch & 0xf];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

bool is_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

}  // namespace

std::string Endpoint::to_string() const {
  // RFC 3986 §3.2.2: an IPv6 literal is bracketed so its colons are not the port's.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text, HostKind kind) {
  auto bad = [&](std::string_view what) {
    return make_error(Errc::invalid, std::string(what) + ", got " + quoted(text));
  };
  const char* shape =
      kind == HostKind::ip_literal ? R"(expected "IPv4:PORT" or "[IPv6]:PORT")" : R"(expected "HOST:PORT")";

  Endpoint endpoint;
  std::string_view port;
  char canonical[INET6_ADDRSTRLEN];
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") return bad(shape);
    in6_addr address;
    if (inet_pton(AF_INET6, std::string(text.substr(1, close - 1)).c_str(), &address) != 1) return bad(shape);
    endpoint.host = inet_ntop(AF_INET6, &address, canonical, sizeof canonical);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad(shape);
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return bad(R"(write IPv6 addresses in brackets like "[::1]:25")");
    in_addr address;
    if (inet_pton(AF_INET, std::string(host).c_str(), &address) == 1) {
      endpoint.host = inet_ntop(AF_INET, &address, canonical, sizeof canonical);
    } else if (kind == HostKind::any && is_domain_name(host)) {
      endpoint.host = lowercase(host);
    } else {
      return bad(shape);
    }
    port = text.substr(colon + 1);
  }
  unsigned long number = is_digits(port) && port.size() <= 5 ? std::stoul(std::string(port)) : 0;
  if (number < 1 || number > 65535) return bad("port must be from 1 to 65535");
  endpoint.port = static_cast<std::uint16_t>(number);
  return endpoint;
}

namespace {

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "floating-point number";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// written - the value for "got ..." in messages: as written for the scalars
// a user might mistype, the type for anything else.
std::string written(const toml::node& node) {
  if (auto s = node.as_string()) return quoted(s->get());
  if (auto i = node.as_integer()) return std::to_string(i->get());
  return type_name(node);
}

// key_part - one component of a dotted key, quoted if TOML would need it.
std::string key_part(std::string_view key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
  return bare ? std::string(key) : quoted(key);
}

// Reader - reads values one key at a time; every failure names the source
// file, a line and the dotted key being read.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  // enter - start reading `key` (dotted), defined at `line`; the line is kept
  // for the checks that span several keys.
  void enter(std::string key, std::size_t line) {
    key_ = std::move(key);
    line_ = line;
    lines_[key_] = line;
  }
  const std::string& key() const { return key_; }
  bool has(const std::string& key) const { return lines_.count(key) != 0; }
  std::size_t line_of(const std::string& key) const {
    auto it = lines_.find(key);
    return it == lines_.end() ? 0 : it->second;
  }

  // "<file>:<line>: <key>: <what>", for errors and warnings alike.
  std::string message_at(std::string_view key, std::size_t line, std::string_view what) const {
    std::string where = line ? source_ + ":" + std::to_string(line) : source_;
    return where + ": " + std::string(key) + ": " + std::string(what);
  }
  std::string message_at(const std::string& key, std::string_view what) const {
    return message_at(key, line_of(key), what);
  }
  [[noreturn]] void fail_at(std::string_view key, std::size_t line, std::string_view what) const {
    throw ConfigError(message_at(key, line, what));
  }
  [[noreturn]] void fail(std::string_view what) const { fail_at(key_, line_, what); }
  // Array elements may sit on their own lines; point at the element.
  [[noreturn]] void fail(const toml::node& at, std::string_view what) const {
    std::size_t line = at.source().begin.line;
    fail_at(key_, line ? line : line_, what);
  }
  [[noreturn]] void wrong_type(const toml::node& node, std::string_view expected) const {
    fail(node, "expected " + std::string(expected) + ", got " + type_name(node));
  }

  const toml::table& table(const toml::node& node) const {
    if (!node.is_table()) wrong_type(node, "a table");
    return *node.as_table();
  }
  const toml::array& array(const toml::node& node) const {
    if (!node.is_array()) wrong_type(node, "an array");
    return *node.as_array();
  }
  const std::string& string(const toml::node& node) const {
    if (!node.is_string()) wrong_type(node, "a string");
    return node.as_string()->get();
  }
  std::string nonempty_string(const toml::node& node) const {
    const std::string& text = string(node);
    if (text.empty()) fail(node, "must not be empty");
    return text;
  }
  bool boolean(const toml::node& node) const {
    if (!node.is_boolean()) wrong_type(node, "a boolean (true or false)");
    return node.as_boolean()->get();
  }

  template <class Int>
  Int integer(const toml::node& node, Int low, Int high) const {
    if (!node.is_integer()) wrong_type(node, "an integer");
    std::int64_t value = node.as_integer()->get();
    if (value < static_cast<std::int64_t>(low) || value > static_cast<std::int64_t>(high)) {
      fail(node, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high) + ", got " +
                     std::to_string(value));
    }
    return static_cast<Int>(value);
  }

  // A size is "35MiB"-style text or a plain number of bytes.
  std::uint64_t size(const toml::node& node, std::uint64_t low, std::uint64_t high, std::string_view example) const {
    std::optional<std::uint64_t> value;
    if (auto text = node.as_string()) value = parse_size(text->get());
    if (auto number = node.as_integer(); number && number->get() >= 0) {
      value = static_cast<std::uint64_t>(number->get());
    }
    if (!value) fail(node, "expected a size like " + quoted(example) + ", got " + written(node));
    if (*value < low || *value > high) {
      fail(node, "must be " + range(low, high, format_size) + ", got " + written(node));
    }
    return *value;
  }

  std::chrono::seconds duration(const toml::node& node, std::string_view example) const {
    std::optional<std::chrono::seconds> value;
    if (auto text = node.as_string()) value = parse_duration(text->get());
    if (!value) fail(node, "expected a duration like " + quoted(example) + ", got " + written(node));
    if (value->count() <= 0) fail(node, "must be at least 1s, got " + written(node));
    return *value;
  }

  Endpoint endpoint(const toml::node& node, HostKind kind) const {
    auto parsed = parse_endpoint(string(node), kind);
    if (!parsed) fail(node, parsed.error().message);
    return std::move(parsed).value();
  }
  // Sockets to bind: IP literals only, never a name that resolves differently tomorrow.
  std::vector<Endpoint> listeners(const toml::node& node) const {
    std::vector<Endpoint> out;
    for (const toml::node& element : array(node)) out.push_back(endpoint(element, HostKind::ip_literal));
    return out;
  }
  // "" turns the feature off, as the example config documents.
  std::optional<Endpoint> endpoint_or_off(const toml::node& node, HostKind kind) const {
    if (string(node).empty()) return std::nullopt;
    return endpoint(node, kind);
  }

 private:
  template <class Format>
  static std::string range(std::uint64_t low, std::uint64_t high, Format format) {
    if (high == std::numeric_limits<std::uint64_t>::max()) return "at least " + format(low);
    return "from " + format(low) + " to " + format(high);
  }

  std::string source_;
  std::string key_;
  std::size_t line_ = 0;
  std::map<std::string, std::size_t> lines_;
};

// One known key of a table and how to read it into the Config.
struct Key {
  std::string_view name;
  void (*read)(Reader&, const toml::node&, Config&);
};

// in_file_order - a table's entries as written; toml++ iterates by name.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : table) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto &x = a.first->source().begin, &y = b.first->source().begin;
    return std::pair(x.line, x.column) < std::pair(y.line, y.column);
  });
  return entries;
}

// read_table - reads `table` (named `prefix`) in file order, so that the
// first error reported is the first one in the file. `prefix` is taken by
// value because r.key(), which callers pass, changes as keys are entered.
void read_table(Reader& r, const toml::table& table, std::string prefix, std::span<const Key> keys,
                Config& config) {
  for (auto [key, node] : in_file_order(table)) {
    r.enter(prefix.empty() ? key_part(key->str()) : prefix + "." + key_part(key->str()), key->source().begin.line);
    auto known = std::find_if(keys.begin(), keys.end(), [&](const Key& k) { return k.name == key->str(); });
    if (known == keys.end()) r.fail(node->is_table() ? "unknown table" : "unknown key");
    known->read(r, *node, config);
  }
}

template <std::size_t N>
void read_section(Reader& r, const toml::node& node, const Key (&keys)[N], Config& config) {
  read_table(r, r.table(node), r.key(), keys, config);
}

constexpr std::uint64_t KiB = 1ull << 10, MiB = 1ull << 20, GiB = 1ull << 30;
constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t max_u32 = std::numeric_limits<std::uint32_t>::max();

void read_hostname(Reader& r, const toml::node& node, Config& c) {
  c.hostname = r.string(node);
  if (!is_domain_name(c.hostname)) {
    r.fail(node, R"(expected a domain name like "mail.example.org", got )" + quoted(c.hostname));
  }
}

// read_account - a user or group name as in /etc/passwd and /etc/group.
// Whether it exists is for the daemons to check when they start
// (common/privileges.hpp): aviaryctl reads the same file and needs neither.
std::string read_account(Reader& r, const toml::node& node, std::string_view example) {
  std::string name = r.nonempty_string(node);
  bool plain = std::none_of(name.begin(), name.end(), [](unsigned char ch) {
    return ch <= ' ' || ch == 0x7f || ch == ':' || ch == '/' || ch == ',';
  });
  if (!plain || name.size() > 256) {
    r.fail(node, "expected a name like " + quoted(example) + ", got " + quoted(name));
  }
  return name;
}

void read_dns(Reader& r, const toml::node& node, Config& c) {
  const std::string& text = r.string(node);
  if (text == "system") {
    c.relay.dns.reset();
    return;
  }
  auto parsed = parse_endpoint(text, HostKind::ip_literal);
  if (!parsed) r.fail(node, R"(expected "system" or "IP:PORT" of a resolver, got )" + quoted(text));
  c.relay.dns = parsed.value();
}

// read_routes - `routes = { "partner.test" = "127.0.0.1:2626" }`, or a [relay.routes] table.
void read_routes(Reader& r, const toml::node& node, Config& c) {
  std::string prefix = r.key();
  for (auto [key, value] : in_file_order(r.table(node))) {
    r.enter(prefix + "." + key_part(key->str()), key->source().begin.line);
    // An address literal ("[192.0.2.1]") may be routed too: it is then the
    // only way a submission user may send to one (issue 11 item 28).
    bool literal = key->str().starts_with('[') && normalize_domain(key->str()).ok();
    if (!literal && !is_domain_name(key->str())) {
      r.fail("expected a domain name (IDNs as xn-- A-labels) or an address literal");
    }
    // Domains compare case-insensitively; "A.test" and "a.test" are one route.
    if (!c.relay.routes.emplace(lowercase(key->str()), r.endpoint(*value, HostKind::any)).second) {
      r.fail("a route for this domain is already listed");
    }
  }
}

// Argon2 (RFC 9106 §3.1) counts memory in KiB; 4GiB is far past any sane cost.
void read_password_memory(Reader& r, const toml::node& node, Config& c) {
  std::uint64_t bytes = r.size(node, 8 * KiB, 4 * GiB, "19MiB");
  if (bytes % KiB != 0) r.fail(node, "must be a whole number of KiB, got " + written(node));
  c.password.memory_kib = static_cast<std::uint32_t>(bytes / KiB);
}

void read_retry(Reader& r, const toml::node& node, Config& c) {
  c.relay.retry.clear();
  for (const toml::node& element : r.array(node)) c.relay.retry.push_back(r.duration(element, "5m"));
  if (c.relay.retry.empty()) r.fail("must list at least one delay, like [\"5m\", \"1h\"]");
}

// The known keys, table by table. Reader checks the type and range; a
// lambda only says where the value goes.
using Node = toml::node;

const Key storage_keys[] = {
    {"path", [](Reader& r, const Node& v, Config& c) { c.storage.path = r.nonempty_string(v); }},
    {"map_size", [](Reader& r, const Node& v, Config& c) { c.storage.map_size = r.size(v, MiB, unlimited, "16GiB"); }},
};

const Key tls_keys[] = {
    {"certificate", [](Reader& r, const Node& v, Config& c) { c.tls.certificate = r.nonempty_string(v); }},
    {"private_key", [](Reader& r, const Node& v, Config& c) { c.tls.private_key = r.nonempty_string(v); }},
};

const Key smtpd_keys[] = {
    {"listen", [](Reader& r, const Node& v, Config& c) { c.smtpd.listen = r.listeners(v); }},
    {"submission", [](Reader& r, const Node& v, Config& c) { c.smtpd.submission = r.listeners(v); }},
    {"submissions", [](Reader& r, const Node& v, Config& c) { c.smtpd.submissions = r.listeners(v); }},
    {"max_message_size", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_message_size = r.size(v, KiB, GiB, "35MiB");
     }},
    {"max_recipients", [](Reader& r, const Node& v, Config& c) { c.smtpd.max_recipients = r.integer(v, 1u, 100000u); }},
    {"metrics", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.metrics = r.endpoint_or_off(v, HostKind::ip_literal);
     }},
    {"io_threads", [](Reader& r, const Node& v, Config& c) { c.smtpd.io_threads = r.integer(v, 0u, 256u); }},
    {"max_connections", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_connections = r.integer(v, 1u, 1000000u);
     }},
    {"max_submission_connections", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_submission_connections = r.integer(v, 1u, 1000000u);
     }},
    {"max_connections_per_ip", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_connections_per_ip = r.integer(v, 1u, 1000000u);
     }},
    {"max_errors", [](Reader& r, const Node& v, Config& c) { c.smtpd.max_errors = r.integer(v, 1u, 1000u); }},
    {"junk_command_limit", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.junk_command_limit = r.integer(v, 1u, 1000000u);
     }},
    {"max_hops", [](Reader& r, const Node& v, Config& c) { c.smtpd.max_hops = r.integer(v, 1u, 1000u); }},
    {"command_timeout", [](Reader& r, const Node& v, Config& c) { c.smtpd.command_timeout = r.duration(v, "5m"); }},
    {"data_timeout", [](Reader& r, const Node& v, Config& c) { c.smtpd.data_timeout = r.duration(v, "3m"); }},
    {"stress_command_timeout", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.stress_command_timeout = r.duration(v, "10s");
     }},
    {"session_deadline", [](Reader& r, const Node& v, Config& c) { c.smtpd.session_deadline = r.duration(v, "30m"); }},
    {"data_deadline", [](Reader& r, const Node& v, Config& c) { c.smtpd.data_deadline = r.duration(v, "15m"); }},
    {"shutdown_timeout", [](Reader& r, const Node& v, Config& c) { c.smtpd.shutdown_timeout = r.duration(v, "30s"); }},
    {"auth_failure_delay", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.auth_failure_delay = r.duration(v, "2s");
     }},
    {"max_auth_failures", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_auth_failures = r.integer(v, 1u, 1000000u);
     }},
    {"auth_max_delay", [](Reader& r, const Node& v, Config& c) { c.smtpd.auth_max_delay = r.duration(v, "15s"); }},
    {"max_concurrent_auth_per_ip", [](Reader& r, const Node& v, Config& c) {
       c.smtpd.max_concurrent_auth_per_ip = r.integer(v, 1u, 1000u);
     }},
};

const Key pop3d_keys[] = {
    {"listen", [](Reader& r, const Node& v, Config& c) { c.pop3d.listen = r.listeners(v); }},
    {"tls_listen", [](Reader& r, const Node& v, Config& c) { c.pop3d.tls_listen = r.listeners(v); }},
    {"allow_plaintext_auth", [](Reader& r, const Node& v, Config& c) { c.pop3d.allow_plaintext_auth = r.boolean(v); }},
    {"metrics", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.metrics = r.endpoint_or_off(v, HostKind::ip_literal);
     }},
    {"io_threads", [](Reader& r, const Node& v, Config& c) { c.pop3d.io_threads = r.integer(v, 0u, 256u); }},
    {"max_connections", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.max_connections = r.integer(v, 1u, 1000000u);
     }},
    {"max_connections_per_ip", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.max_connections_per_ip = r.integer(v, 1u, 1000000u);
     }},
    {"max_errors", [](Reader& r, const Node& v, Config& c) { c.pop3d.max_errors = r.integer(v, 1u, 1000u); }},
    {"idle_timeout", [](Reader& r, const Node& v, Config& c) { c.pop3d.idle_timeout = r.duration(v, "10m"); }},
    {"shutdown_timeout", [](Reader& r, const Node& v, Config& c) { c.pop3d.shutdown_timeout = r.duration(v, "10s"); }},
    {"auth_failure_delay", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.auth_failure_delay = r.duration(v, "2s");
     }},
    {"max_auth_failures", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.max_auth_failures = r.integer(v, 1u, 1000000u);
     }},
    {"auth_max_delay", [](Reader& r, const Node& v, Config& c) { c.pop3d.auth_max_delay = r.duration(v, "15s"); }},
    {"max_concurrent_auth_per_ip", [](Reader& r, const Node& v, Config& c) {
       c.pop3d.max_concurrent_auth_per_ip = r.integer(v, 1u, 1000u);
     }},
};

const Key relay_keys[] = {
    {"dns", read_dns},
    {"smtp_port", [](Reader& r, const Node& v, Config& c) {
       c.relay.smtp_port = r.integer<std::uint16_t>(v, 1, 65535);
     }},
    {"smarthost", [](Reader& r, const Node& v, Config& c) { c.relay.smarthost = r.endpoint_or_off(v, HostKind::any); }},
    {"routes", read_routes},
    {"retry", read_retry},
    {"max_queue_time", [](Reader& r, const Node& v, Config& c) { c.relay.max_queue_time = r.duration(v, "5d"); }},
    {"transaction_deadline", [](Reader& r, const Node& v, Config& c) {
       c.relay.transaction_deadline = r.duration(v, "10m");
     }},
    {"connections_per_destination", [](Reader& r, const Node& v, Config& c) {
       c.relay.connections_per_destination = r.integer(v, 1u, 1000u);
     }},
    {"max_connections", [](Reader& r, const Node& v, Config& c) { c.relay.max_connections = r.integer(v, 1u, 100000u); }},
};

const Key password_keys[] = {
    {"memory", read_password_memory},
    {"iterations", [](Reader& r, const Node& v, Config& c) { c.password.iterations = r.integer(v, 1u, max_u32); }},
    {"parallelism", [](Reader& r, const Node& v, Config& c) { c.password.parallelism = r.integer(v, 1u, 16u); }},
};

const Key top_level_keys[] = {
    {"hostname", read_hostname},
    {"user", [](Reader& r, const Node& v, Config& c) { c.user = read_account(r, v, "aviary"); }},
    {"group", [](Reader& r, const Node& v, Config& c) { c.group = read_account(r, v, "aviary"); }},
    {"storage", [](Reader& r, const Node& v, Config& c) { read_section(r, v, storage_keys, c); }},
    {"tls", [](Reader& r, const Node& v, Config& c) { read_section(r, v, tls_keys, c); }},
    {"smtpd", [](Reader& r, const Node& v, Config& c) { read_section(r, v, smtpd_keys, c); }},
    {"pop3d", [](Reader& r, const Node& v, Config& c) { read_section(r, v, pop3d_keys, c); }},
    {"relay", [](Reader& r, const Node& v, Config& c) { read_section(r, v, relay_keys, c); }},
    {"password", [](Reader& r, const Node& v, Config& c) { read_section(r, v, password_keys, c); }},
};

std::vector<Endpoint> both_families(std::uint16_t port) { return {{"0.0.0.0", port}, {"::", port}}; }

// apply_defaults - the values that depend on what else was set.
void apply_defaults(const Reader& r, Config& c) {
  if (!r.has("hostname")) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || !is_domain_name(name)) {
      r.fail_at("hostname", 0, "not set, and the system host name " + quoted(name) + " is not a domain name");
    }
    c.hostname = name;
  }
  // The TLS listeners open by default only when there is a certificate to serve.
  bool tls = c.tls.enabled();
  if (!r.has("smtpd.listen")) c.smtpd.listen = both_families(25);
  if (!r.has("smtpd.submission") && tls) c.smtpd.submission = both_families(587);
  if (!r.has("smtpd.submissions") && tls) c.smtpd.submissions = both_families(465);
  if (!r.has("smtpd.metrics")) c.smtpd.metrics = Endpoint{"127.0.0.1", 9101};
  if (!r.has("pop3d.listen")) c.pop3d.listen = both_families(110);
  if (!r.has("pop3d.tls_listen") && tls) c.pop3d.tls_listen = both_families(995);
  if (!r.has("pop3d.metrics")) c.pop3d.metrics = Endpoint{"127.0.0.1", 9102};
  if (!r.has("relay.retry")) {
    using namespace std::chrono_literals;
    c.relay.retry = {1min, 5min, 15min, 1h, 2h, 4h};
  }
}

// check_tls - [tls] is all or nothing, and a TLS listener needs it.
void check_tls(const Reader& r, const Config& c) {
  if (r.has("tls")) {
    for (const char* part : {"certificate", "private_key"}) {
      if (!r.has(std::string("tls.") + part)) {
        r.fail_at(std::string("tls.") + part, r.line_of("tls"),
                  "missing; [tls] needs both certificate and private_key");
      }
    }
  }
  const std::pair<const char*, const std::vector<Endpoint>*> tls_listeners[] = {
      {"smtpd.submission", &c.smtpd.submission},
      {"smtpd.submissions", &c.smtpd.submissions},
      {"pop3d.tls_listen", &c.pop3d.tls_listen},
  };
  for (auto [key, endpoints] : tls_listeners) {
    if (!endpoints->empty() && !c.tls.enabled()) {
      r.fail_at(key, r.line_of(key), "needs [tls] certificate and private_key");
    }
  }
}

// check_account - a group alone would leave the daemon running as root.
void check_account(const Reader& r, const Config& c) {
  if (!c.group.empty() && c.user.empty()) {
    r.fail_at("group", r.line_of("group"), "needs user; a group alone does not drop root privileges");
  }
}

// check_password - Argon2 needs at least 8KiB of memory per lane, and a
// login storm must not push the machine into swap or the OOM killer.
void check_password(const Reader& r, const Config& c) {
  if (c.password.memory_kib < 8 * c.password.parallelism) {
    const char* key = r.has("password.parallelism") ? "password.parallelism" : "password.memory";
    r.fail_at(key, r.line_of(key),
              "Argon2 needs memory of at least 8KiB per lane, got " + format_size(c.password.memory_kib * KiB) +
                  " for " + std::to_string(c.password.parallelism) + " lanes");
  }
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return;
  auto ram = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
  if (auto problem = password_memory_problem(c.password, std::max(1u, std::thread::hardware_concurrency()), ram)) {
    r.fail_at("password.memory", r.line_of("password.memory"), *problem);
  }
}

bool is_loopback(const std::string& host) { return host == "::1" || host.starts_with("127."); }

// check_pop3d - settings that would lock every POP3 user out, or expose them.
void check_pop3d(const Reader& r, Config& c) {
  const Config::Pop3d& p = c.pop3d;
  if (p.allow_plaintext_auth) {
    for (const Endpoint& e : p.listen) {
      if (is_loopback(e.host)) continue;
      c.pop3d_warnings.push_back(r.message_at("pop3d.allow_plaintext_auth",
                                        "true, and " + e.to_string() +
                                            " is not a loopback address: passwords may cross the network in clear"));
      break;
    }
  } else if (!c.tls.enabled() && !p.listen.empty()) {
    // Without TLS there is no STLS and no 995: nobody could ever log in.
    c.pop3d_errors.push_back(r.message_at(
        r.has("pop3d.allow_plaintext_auth") ? "pop3d.allow_plaintext_auth" : "pop3d.listen",
        "no [tls] is configured and allow_plaintext_auth is false, so nobody could log in: configure [tls] "
        "(or, on a trusted network only, set allow_plaintext_auth = true, or listen = [] to serve no POP3)"));
  }
  using namespace std::chrono_literals;
  if (p.idle_timeout < 10min) {
    c.pop3d_warnings.push_back(r.message_at("pop3d.idle_timeout",
                                      "below the 10 minutes RFC 1939 §3 requires; clients may be logged out "
                                      "while they work"));
  }
}

// check_sockets - two listeners on one address would only fail later, at
// bind(), in whichever daemon starts second.
void check_sockets(const Reader& r, const Config& c) {
  std::vector<std::pair<std::string, Endpoint>> bound;
  auto add_all = [&](const char* key, const std::vector<Endpoint>& endpoints) {
    for (const Endpoint& e : endpoints) bound.emplace_back(key, e);
  };
  add_all("smtpd.listen", c.smtpd.listen);
  add_all("smtpd.submission", c.smtpd.submission);
  add_all("smtpd.submissions", c.smtpd.submissions);
  if (c.smtpd.metrics) bound.emplace_back("smtpd.metrics", *c.smtpd.metrics);
  add_all("pop3d.listen", c.pop3d.listen);
  add_all("pop3d.tls_listen", c.pop3d.tls_listen);
  if (c.pop3d.metrics) bound.emplace_back("pop3d.metrics", *c.pop3d.metrics);

  for (std::size_t j = 0; j < bound.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (bound[i].second != bound[j].second) continue;
      // Blame a key the user wrote: a default only clashes with a written one.
      auto [mine, other] = r.has(bound[j].first) ? std::pair(bound[j].first, bound[i].first)
                                                 : std::pair(bound[i].first, bound[j].first);
      std::string address = bound[j].second.to_string();
      r.fail_at(mine, r.line_of(mine),
                mine == other ? address + " is listed twice" : address + " is also used by " + other);
    }
  }
}

}  // namespace

std::optional<std::string> password_memory_problem(const PasswordParams& password, unsigned hashing_threads,
                                                   std::uint64_t ram_bytes) {
  std::uint64_t peak = static_cast<std::uint64_t>(password.memory_kib) * KiB * hashing_threads;
  if (peak <= ram_bytes / 4) return std::nullopt;
  return format_size(password.memory_kib * KiB) + " for each of " + std::to_string(hashing_threads) +
         " concurrent hashes (one per core) is " + format_size(peak) + ", more than a quarter of this machine's " +
         format_size(ram_bytes) + " of memory";
}

Config parse_config(std::string_view toml_text, const std::string& source_name) {
  toml::table document;
  try {
    document = toml::parse(toml_text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError(source_name + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                      std::string(e.description()));
  }

  Config config;
  config.source = source_name;
  Reader reader(source_name);
  read_table(reader, document, "", top_level_keys, config);
  apply_defaults(reader, config);
  check_account(reader, config);
  check_tls(reader, config);
  check_password(reader, config);
  check_pop3d(reader, config);
  check_sockets(reader, config);
  return config;
}

Config load_config(const std::string& path) {
  auto cannot_read = [&](int error) { return ConfigError(path + ": cannot read: " + std::strerror(error)); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw cannot_read(errno);
  std::string text;
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {  // a directory opens fine and fails here with EISDIR
      int error = errno;
      ::close(fd);
      throw cannot_read(error);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_config(text, path);
}

}  // namespace aviary
