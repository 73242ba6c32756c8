// common_config_test.cpp - aviary.toml: the SPEC example, defaults, and every kind of bad input with its message.
#include "common/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/privileges.hpp"
#include "tests/support/temp_dir.hpp"

namespace aviary {

// Readable failures: gtest would print an Endpoint as bytes.
void PrintTo(const Endpoint& endpoint, std::ostream* out) { *out << endpoint.to_string(); }

namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;

// Each case is named by its label, in test names and in failure messages.
template <class T>
std::string case_name(const testing::TestParamInfo<T>& info) { return info.param.label; }
template <class T>
  requires requires(const T& c) { c.label; }
void PrintTo(const T& c, std::ostream* out) { *out << c.label; }

std::vector<Endpoint> both(std::uint16_t port) { return {{"0.0.0.0", port}, {"::", port}}; }

// The example of SPEC.md "Configuration", verbatim.
constexpr const char* spec_example = R"toml(hostname = "mail.example.org"          # greeting, EHLO, Received, bounces

[storage]
path = "/var/lib/aviary"               # LMDB environment directory
map_size = "16GiB"

[tls]                                  # PEM files; required if any TLS listener is set
certificate = "/etc/aviary/tls/fullchain.pem"
private_key = "/etc/aviary/tls/privkey.pem"

[smtpd]
listen = ["0.0.0.0:25", "[::]:25"]     # MX: hosted domains only, STARTTLS offered, no AUTH
submission = ["0.0.0.0:587"]           # STARTTLS, then AUTH required
submissions = ["0.0.0.0:465"]          # implicit TLS, AUTH required
max_message_size = "35MiB"
max_recipients = 100
metrics = "127.0.0.1:9101"             # Prometheus exposer; "" disables

[pop3d]
listen = ["0.0.0.0:110"]               # STLS offered
tls_listen = ["0.0.0.0:995"]
allow_plaintext_auth = false           # USER/PASS/AUTH before TLS only if true
metrics = "127.0.0.1:9102"

[relay]
dns = "system"                         # or "IP:PORT" of a resolver to ask instead
smtp_port = 25                         # port used for MX hosts
smarthost = ""                         # "host:port": send all remote mail there
routes = { }                           # { "partner.test" = "127.0.0.1:2626" } per-domain next hop
retry = ["1m", "5m", "15m", "1h", "2h", "4h"]   # then every 4h
max_queue_time = "5d"                  # then bounce
)toml";

TEST(Config, SpecExample) {
  Config c = parse_config(spec_example, "aviary.toml");
  EXPECT_EQ(c.source, "aviary.toml");
  EXPECT_EQ(c.hostname, "mail.example.org");
  EXPECT_EQ(c.storage.path, "/var/lib/aviary");
  EXPECT_EQ(c.storage.map_size, 16ull << 30);
  EXPECT_EQ(c.tls.certificate, "/etc/aviary/tls/fullchain.pem");
  EXPECT_EQ(c.tls.private_key, "/etc/aviary/tls/privkey.pem");
  EXPECT_TRUE(c.tls.enabled());
  EXPECT_EQ(c.smtpd.listen, both(25));
  EXPECT_EQ(c.smtpd.submission, (std::vector<Endpoint>{{"0.0.0.0", 587}}));
  EXPECT_EQ(c.smtpd.submissions, (std::vector<Endpoint>{{"0.0.0.0", 465}}));
  EXPECT_EQ(c.smtpd.max_message_size, 35ull << 20);
  EXPECT_EQ(c.smtpd.max_recipients, 100u);
  EXPECT_EQ(c.smtpd.metrics, (Endpoint{"127.0.0.1", 9101}));
  EXPECT_EQ(c.pop3d.listen, (std::vector<Endpoint>{{"0.0.0.0", 110}}));
  EXPECT_EQ(c.pop3d.tls_listen, (std::vector<Endpoint>{{"0.0.0.0", 995}}));
  EXPECT_FALSE(c.pop3d.allow_plaintext_auth);
  EXPECT_EQ(c.pop3d.metrics, (Endpoint{"127.0.0.1", 9102}));
  EXPECT_EQ(c.relay.dns, std::nullopt);
  EXPECT_EQ(c.relay.smtp_port, 25);
  EXPECT_EQ(c.relay.smarthost, std::nullopt);
  EXPECT_TRUE(c.relay.routes.empty());
  EXPECT_EQ(c.relay.retry, (std::vector<seconds>{1min, 5min, 15min, 1h, 2h, 4h}));
  EXPECT_EQ(c.relay.max_queue_time, seconds(5 * 86400));
  EXPECT_EQ(c.password.memory_kib, 19u * 1024);
  EXPECT_EQ(c.password.iterations, 2u);
  EXPECT_EQ(c.password.parallelism, 1u);
}

TEST(Config, EmptyFileGivesDefaults) {
  char system_name[256] = {};
  ASSERT_EQ(gethostname(system_name, sizeof system_name - 1), 0);
  Config c = parse_config("", "empty.toml");
  EXPECT_EQ(c.source, "empty.toml");
  EXPECT_EQ(c.hostname, system_name);
  EXPECT_EQ(c.user, "");  // runs as started
  EXPECT_EQ(c.group, "");
  EXPECT_EQ(c.storage.path, "/var/lib/aviary");
  EXPECT_EQ(c.storage.map_size, 16ull << 30);
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_EQ(c.smtpd.listen, both(25));
  EXPECT_TRUE(c.smtpd.submission.empty());   // no certificate, no TLS listeners
  EXPECT_TRUE(c.smtpd.submissions.empty());
  EXPECT_EQ(c.smtpd.max_message_size, 35ull << 20);
  EXPECT_EQ(c.smtpd.max_recipients, 100u);
  EXPECT_EQ(c.smtpd.max_errors, 10u);
  EXPECT_EQ(c.smtpd.junk_command_limit, 100u);
  EXPECT_EQ(c.smtpd.max_hops, 50u);
  EXPECT_EQ(c.smtpd.command_timeout, 300s);
  EXPECT_EQ(c.smtpd.data_timeout, 180s);
  EXPECT_EQ(c.smtpd.max_connections, 1000u);
  EXPECT_EQ(c.smtpd.max_submission_connections, 200u);
  EXPECT_EQ(c.smtpd.stress_command_timeout, 10s);
  EXPECT_EQ(c.smtpd.session_deadline, 30min);
  EXPECT_EQ(c.smtpd.data_deadline, 15min);
  EXPECT_EQ(c.smtpd.metrics, (Endpoint{"127.0.0.1", 9101}));
  EXPECT_EQ(c.pop3d.listen, both(110));
  EXPECT_TRUE(c.pop3d.tls_listen.empty());
  EXPECT_FALSE(c.pop3d.allow_plaintext_auth);
  EXPECT_EQ(c.pop3d.metrics, (Endpoint{"127.0.0.1", 9102}));
  EXPECT_EQ(c.relay.dns, std::nullopt);
  EXPECT_EQ(c.relay.smtp_port, 25);
  EXPECT_EQ(c.relay.smarthost, std::nullopt);
  EXPECT_TRUE(c.relay.routes.empty());
  EXPECT_EQ(c.relay.retry, (std::vector<seconds>{1min, 5min, 15min, 1h, 2h, 4h}));
  EXPECT_EQ(c.relay.max_queue_time, seconds(5 * 86400));
  EXPECT_EQ(c.password.memory_kib, 19u * 1024);
  EXPECT_EQ(c.password.iterations, 2u);
  EXPECT_EQ(c.password.parallelism, 1u);
}

TEST(Config, GroupDefaultsToTheUsersOwn) {
  Config c = parse_config("user = \"aviary\"\n", "x.toml");
  EXPECT_EQ(c.user, "aviary");
  EXPECT_EQ(c.group, "");  // the primary group of "aviary", looked up at start
}

// What a daemon checks right after loading, before it binds anything.
std::string account_error(const std::string& toml) {
  try {
    check_account(parse_config(toml, "x.toml"));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, AccountsAreCheckedWhenADaemonStarts) {
  EXPECT_EQ(account_error(""), "");
  EXPECT_EQ(account_error("user = \"aviary-test-no-such-user\"\n"),
            "x.toml: user: no such user \"aviary-test-no-such-user\"");
  EXPECT_EQ(account_error("user = \"root\"\ngroup = \"aviary-test-no-such-group\"\n"),
            "x.toml: group: no such group \"aviary-test-no-such-group\"");
  if (geteuid() == 0) {
    EXPECT_EQ(account_error("user = \"root\"\ngroup = \"root\"\n"), "");
  } else {
    EXPECT_EQ(account_error("user = \"root\"\n"),
              "x.toml: user: cannot switch to \"root\" without root (running as uid " + std::to_string(geteuid()) +
                  ")");
  }
}

TEST(Config, TlsTableOpensTheTlsListenersByDefault) {
  Config c = parse_config("[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n", "x.toml");
  EXPECT_EQ(c.smtpd.submission, both(587));
  EXPECT_EQ(c.smtpd.submissions, both(465));
  EXPECT_EQ(c.pop3d.tls_listen, both(995));
}

TEST(Config, EmptyTlsListenersNeedNoCertificate) {
  Config c = parse_config("[smtpd]\nsubmission = []\nsubmissions = []\n[pop3d]\ntls_listen = []\n", "x.toml");
  EXPECT_TRUE(c.smtpd.submission.empty());
  EXPECT_TRUE(c.pop3d.tls_listen.empty());
}

TEST(Config, EveryValueCanBeChanged) {
  Config c = parse_config(R"toml(
hostname = "MX1.Example.NET"
user = "aviary"
group = "mail"
[storage]
path = "./var/data"
map_size = 1048576
[smtpd]
listen = ["127.0.0.1:2525", "[0:0::1]:2525"]
max_message_size = "1GiB"
max_recipients = 100000
metrics = ""
io_threads = 3
max_connections = 20
max_submission_connections = 7
max_connections_per_ip = 2
max_errors = 4
junk_command_limit = 7
max_hops = 30
command_timeout = "2s"
data_timeout = "1m"
stress_command_timeout = "3s"
session_deadline = "1h"
data_deadline = "20m"
shutdown_timeout = "10s"
[pop3d]
listen = []
allow_plaintext_auth = true
metrics = "[::1]:9999"
[relay]
dns = "127.0.0.53:53"
smtp_port = 2626
smarthost = "Relay.Example.COM:587"
retry = ["30s"]
max_queue_time = "36h"
[relay.routes]
"Partner.Test" = "[::1]:2626"
"b.test" = "mx.b.test:25"
"[IPv6:2001:DB8::9]" = "127.0.0.1:2525"
[password]
memory = "64MiB"
iterations = 3
parallelism = 4
)toml",
                          "x.toml");
  EXPECT_EQ(c.hostname, "MX1.Example.NET");  // kept as written: it is the greeting
  EXPECT_EQ(c.user, "aviary");
  EXPECT_EQ(c.group, "mail");
  EXPECT_EQ(c.storage.path, "./var/data");
  EXPECT_EQ(c.storage.map_size, 1u << 20);
  EXPECT_EQ(c.smtpd.listen, (std::vector<Endpoint>{{"127.0.0.1", 2525}, {"::1", 2525}}));
  EXPECT_EQ(c.smtpd.max_message_size, 1ull << 30);
  EXPECT_EQ(c.smtpd.max_recipients, 100000u);
  EXPECT_EQ(c.smtpd.metrics, std::nullopt);
  EXPECT_EQ(c.smtpd.io_threads, 3u);
  EXPECT_EQ(c.smtpd.max_connections, 20u);
  EXPECT_EQ(c.smtpd.max_connections_per_ip, 2u);
  EXPECT_EQ(c.smtpd.max_errors, 4u);
  EXPECT_EQ(c.smtpd.junk_command_limit, 7u);
  EXPECT_EQ(c.smtpd.max_hops, 30u);
  EXPECT_EQ(c.smtpd.command_timeout, 2s);
  EXPECT_EQ(c.smtpd.data_timeout, 60s);
  EXPECT_EQ(c.smtpd.max_submission_connections, 7u);
  EXPECT_EQ(c.smtpd.stress_command_timeout, 3s);
  EXPECT_EQ(c.smtpd.session_deadline, 1h);
  EXPECT_EQ(c.smtpd.data_deadline, 20min);
  EXPECT_EQ(c.smtpd.shutdown_timeout, 10s);
  EXPECT_TRUE(c.pop3d.listen.empty());
  EXPECT_TRUE(c.pop3d.allow_plaintext_auth);
  EXPECT_EQ(c.pop3d.metrics, (Endpoint{"::1", 9999}));
  EXPECT_EQ(c.relay.dns, (Endpoint{"127.0.0.53", 53}));
  EXPECT_EQ(c.relay.smtp_port, 2626);
  EXPECT_EQ(c.relay.smarthost, (Endpoint{"relay.example.com", 587}));
  EXPECT_EQ(c.relay.retry, (std::vector<seconds>{30s}));
  EXPECT_EQ(c.relay.max_queue_time, 36h);
  EXPECT_EQ(c.relay.routes, (std::map<std::string, Endpoint>{{"partner.test", {"::1", 2626}},
                                                             {"b.test", {"mx.b.test", 25}},
                                                             {"[ipv6:2001:db8::9]", {"127.0.0.1", 2525}}}));
  EXPECT_EQ(c.password.memory_kib, 64u * 1024);
  EXPECT_EQ(c.password.iterations, 3u);
  EXPECT_EQ(c.password.parallelism, 4u);
}

TEST(Config, LoadsFromAFile) {
  test::TempDir dir;
  std::string path = dir.write("aviary.toml", spec_example);
  Config c = load_config(path);
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.hostname, "mail.example.org");
}

TEST(Config, MissingFile) {
  test::TempDir dir;
  std::string path = dir.file("absent.toml");
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot read: No such file or directory");
  }
}

TEST(Config, DirectoryInsteadOfFile) {
  test::TempDir dir;
  try {
    load_config(dir.path());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + ": cannot read: Is a directory");
  }
}

TEST(Config, ErrorsFromAFileNameItsPath) {
  test::TempDir dir;
  std::string path = dir.write("aviary.toml", "\n[smtpd]\nmax_recipients = -5\n");
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ":3: smtpd.max_recipients: must be an integer from 1 to 100000, got -5");
  }
}

TEST(Config, Endpoint) {
  EXPECT_EQ((Endpoint{"192.0.2.1", 25}).to_string(), "192.0.2.1:25");
  EXPECT_EQ((Endpoint{"::1", 25}).to_string(), "[::1]:25");
  EXPECT_EQ((Endpoint{"mx.example.org", 2525}).to_string(), "mx.example.org:2525");
}

// Bad input ---------------------------------------------------------------

struct ErrorCase {
  const char* label;
  const char* toml;     // parsed as "x.toml"
  const char* message;  // the whole of ConfigError::what()
};

const char* const tls = "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n";

const ErrorCase error_cases[] = {
    // Unknown keys and tables, everywhere.
    {"unknown_top_level_key", "hostname = \"a.test\"\nbogus = 1\n", "x.toml:2: bogus: unknown key"},
    {"unknown_top_level_table", "\n[bogus]\nx = 1\n", "x.toml:2: bogus: unknown table"},
    {"unknown_quoted_key", "\"two words\" = 1\n", "x.toml:1: \"two words\": unknown key"},
    {"unknown_in_storage", "[storage]\npath = \"/x\"\nbogus = 1\n", "x.toml:3: storage.bogus: unknown key"},
    {"unknown_in_tls", "[tls]\nchain = \"c.pem\"\n", "x.toml:2: tls.chain: unknown key"},
    {"unknown_in_smtpd", "[smtpd]\nbogus = true\n", "x.toml:2: smtpd.bogus: unknown key"},
    {"unknown_in_pop3d", "[pop3d]\nlisten = []\nbogus = 1\n", "x.toml:3: pop3d.bogus: unknown key"},
    {"unknown_in_relay", "[relay]\nmx = \"a\"\n", "x.toml:2: relay.mx: unknown key"},
    {"unknown_in_password", "[password]\nsalt = 16\n", "x.toml:2: password.salt: unknown key"},
    {"unknown_subtable", "[smtpd]\n[smtpd.extra]\nx = 1\n", "x.toml:2: smtpd.extra: unknown table"},
    {"unknown_dotted_key", "smtpd.bogus = 1\n", "x.toml:1: smtpd.bogus: unknown key"},
    {"first_error_in_file_order", "[smtpd]\nzzz = 1\naaa = 2\n", "x.toml:2: smtpd.zzz: unknown key"},

    // Wrong types.
    {"hostname_integer", "hostname = 5\n", "x.toml:1: hostname: expected a string, got integer"},
    {"section_not_a_table", "smtpd = 5\n", "x.toml:1: smtpd: expected a table, got integer"},
    {"section_array_of_tables", "[[relay]]\n", "x.toml:1: relay: expected a table, got array"},
    {"path_integer", "[storage]\npath = 1\n", "x.toml:2: storage.path: expected a string, got integer"},
    {"command_timeout_zero", "[smtpd]\ncommand_timeout = \"0s\"\n",
     "x.toml:2: smtpd.command_timeout: must be at least 1s, got \"0s\""},
    {"max_errors_zero", "[smtpd]\nmax_errors = 0\n",
     "x.toml:2: smtpd.max_errors: must be an integer from 1 to 1000, got 0"},
    {"max_connections_per_ip_string", "[smtpd]\nmax_connections_per_ip = \"5\"\n",
     "x.toml:2: smtpd.max_connections_per_ip: expected an integer, got string"},
    {"max_recipients_string", "[smtpd]\nmax_recipients = \"100\"\n",
     "x.toml:2: smtpd.max_recipients: expected an integer, got string"},
    {"max_recipients_float", "[smtpd]\nmax_recipients = 1.5\n",
     "x.toml:2: smtpd.max_recipients: expected an integer, got floating-point number"},
    {"plaintext_string", "[pop3d]\nallow_plaintext_auth = \"yes\"\n",
     "x.toml:2: pop3d.allow_plaintext_auth: expected a boolean (true or false), got string"},
    {"listen_string", "[smtpd]\nlisten = \"0.0.0.0:25\"\n", "x.toml:2: smtpd.listen: expected an array, got string"},
    {"listen_element_integer", "[smtpd]\nlisten = [\n  \"0.0.0.0:25\",\n  25,\n]\n",
     "x.toml:4: smtpd.listen: expected a string, got integer"},
    {"metrics_integer", "[smtpd]\nmetrics = 9101\n", "x.toml:2: smtpd.metrics: expected a string, got integer"},
    {"dns_integer", "[relay]\ndns = 53\n", "x.toml:2: relay.dns: expected a string, got integer"},
    {"routes_string", "[relay]\nroutes = \"a\"\n", "x.toml:2: relay.routes: expected a table, got string"},
    {"retry_string", "[relay]\nretry = \"5m\"\n", "x.toml:2: relay.retry: expected an array, got string"},
    {"certificate_integer", "[tls]\ncertificate = 1\n", "x.toml:2: tls.certificate: expected a string, got integer"},
    {"date", "[relay]\nmax_queue_time = 2024-01-01\n",
     "x.toml:2: relay.max_queue_time: expected a duration like \"5d\", got date"},

    // Values out of range.
    {"max_recipients_negative", "[smtpd]\nmax_recipients = -5\n",
     "x.toml:2: smtpd.max_recipients: must be an integer from 1 to 100000, got -5"},
    {"max_recipients_zero", "[smtpd]\nmax_recipients = 0\n",
     "x.toml:2: smtpd.max_recipients: must be an integer from 1 to 100000, got 0"},
    {"max_recipients_too_many", "[smtpd]\nmax_recipients = 100001\n",
     "x.toml:2: smtpd.max_recipients: must be an integer from 1 to 100000, got 100001"},
    {"smtp_port_zero", "[relay]\nsmtp_port = 0\n",
     "x.toml:2: relay.smtp_port: must be an integer from 1 to 65535, got 0"},
    {"smtp_port_too_big", "[relay]\nsmtp_port = 65536\n",
     "x.toml:2: relay.smtp_port: must be an integer from 1 to 65535, got 65536"},
    {"iterations_zero", "[password]\niterations = 0\n",
     "x.toml:2: password.iterations: must be an integer from 1 to 4294967295, got 0"},
    {"parallelism_too_many", "[password]\nparallelism = 17\n",
     "x.toml:2: password.parallelism: must be an integer from 1 to 16, got 17"},
    {"parallelism_beyond_memory", "[password]\nmemory = \"16KiB\"\nparallelism = 4\n",
     "x.toml:3: password.parallelism: Argon2 needs memory of at least 8KiB per lane, got 16KiB for 4 lanes"},
    {"hostname_with_space", "hostname = \"mail example\"\n",
     "x.toml:1: hostname: expected a domain name like \"mail.example.org\", got \"mail example\""},
    {"hostname_empty", "hostname = \"\"\n",
     "x.toml:1: hostname: expected a domain name like \"mail.example.org\", got \"\""},
    {"hostname_trailing_dot", "hostname = \"mail.example.org.\"\n",
     "x.toml:1: hostname: expected a domain name like \"mail.example.org\", got \"mail.example.org.\""},
    {"hostname_ip", "hostname = \"192.0.2.1\"\n",
     "x.toml:1: hostname: expected a domain name like \"mail.example.org\", got \"192.0.2.1\""},
    {"path_empty", "[storage]\npath = \"\"\n", "x.toml:2: storage.path: must not be empty"},

    // The user and group to run as.
    {"user_integer", "user = 65534\n", "x.toml:1: user: expected a string, got integer"},
    {"user_empty", "user = \"\"\n", "x.toml:1: user: must not be empty"},
    {"user_with_space", "user = \"mail user\"\n", "x.toml:1: user: expected a name like \"aviary\", got \"mail user\""},
    {"user_with_colon", "user = \"a:b\"\n", "x.toml:1: user: expected a name like \"aviary\", got \"a:b\""},
    {"group_with_slash", "user = \"aviary\"\ngroup = \"../x\"\n",
     "x.toml:2: group: expected a name like \"aviary\", got \"../x\""},
    {"group_without_user", "hostname = \"a.test\"\ngroup = \"aviary\"\n",
     "x.toml:2: group: needs user; a group alone does not drop root privileges"},
    {"user_in_a_table", "[storage]\nuser = \"aviary\"\n", "x.toml:2: storage.user: unknown key"},

    // Sizes.
    {"size_words", "[storage]\nmap_size = \"lots\"\n",
     "x.toml:2: storage.map_size: expected a size like \"16GiB\", got \"lots\""},
    {"size_negative", "[storage]\nmap_size = -1\n",
     "x.toml:2: storage.map_size: expected a size like \"16GiB\", got -1"},
    {"size_boolean", "[storage]\nmap_size = true\n",
     "x.toml:2: storage.map_size: expected a size like \"16GiB\", got boolean"},
    {"size_decimal_unit", "[smtpd]\nmax_message_size = \"35MB\"\n",
     "x.toml:2: smtpd.max_message_size: expected a size like \"35MiB\", got \"35MB\""},
    {"map_size_too_small", "[storage]\nmap_size = \"512KiB\"\n",
     "x.toml:2: storage.map_size: must be at least 1MiB, got \"512KiB\""},
    {"message_size_too_big", "[smtpd]\nmax_message_size = \"2GiB\"\n",
     "x.toml:2: smtpd.max_message_size: must be from 1KiB to 1GiB, got \"2GiB\""},
    {"message_size_too_small", "[smtpd]\nmax_message_size = 1000\n",
     "x.toml:2: smtpd.max_message_size: must be from 1KiB to 1GiB, got 1000"},
    {"password_memory_too_small", "[password]\nmemory = \"4KiB\"\n",
     "x.toml:2: password.memory: must be from 8KiB to 4GiB, got \"4KiB\""},
    {"password_memory_not_kib", "[password]\nmemory = 10000\n",
     "x.toml:2: password.memory: must be a whole number of KiB, got 10000"},

    // Durations.
    {"duration_bare_number", "[relay]\nmax_queue_time = \"5\"\n",
     "x.toml:2: relay.max_queue_time: expected a duration like \"5d\", got \"5\""},
    {"duration_integer", "[relay]\nmax_queue_time = 5\n",
     "x.toml:2: relay.max_queue_time: expected a duration like \"5d\", got 5"},
    {"duration_zero", "[relay]\nmax_queue_time = \"0s\"\n",
     "x.toml:2: relay.max_queue_time: must be at least 1s, got \"0s\""},
    {"retry_empty", "[relay]\nretry = []\n",
     "x.toml:2: relay.retry: must list at least one delay, like [\"5m\", \"1h\"]"},
    {"retry_bad_element", "[relay]\nretry = [\n  \"1m\",\n  \"1 week\",\n]\n",
     "x.toml:4: relay.retry: expected a duration like \"5m\", got \"1 week\""},
    {"retry_zero", "[relay]\nretry = [\"1m\", \"0m\"]\n", "x.toml:2: relay.retry: must be at least 1s, got \"0m\""},

    // Endpoints.
    {"listen_name", "[smtpd]\nlisten = [\"localhost:25\"]\n",
     "x.toml:2: smtpd.listen: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"localhost:25\""},
    {"listen_no_port", "[smtpd]\nlisten = [\"0.0.0.0\"]\n",
     "x.toml:2: smtpd.listen: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"0.0.0.0\""},
    {"listen_ipv6_no_port", "[smtpd]\nlisten = [\"[::1]\"]\n",
     "x.toml:2: smtpd.listen: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"[::1]\""},
    {"listen_ipv6_bad", "[smtpd]\nlisten = [\"[::g]:25\"]\n",
     "x.toml:2: smtpd.listen: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"[::g]:25\""},
    {"listen_ipv6_unbracketed", "[smtpd]\nlisten = [\"::1:25\"]\n",
     "x.toml:2: smtpd.listen: write IPv6 addresses in brackets like \"[::1]:25\", got \"::1:25\""},
    {"listen_port_zero", "[pop3d]\nlisten = [\"0.0.0.0:0\"]\n",
     "x.toml:2: pop3d.listen: port must be from 1 to 65535, got \"0.0.0.0:0\""},
    {"listen_port_too_big", "[pop3d]\nlisten = [\"0.0.0.0:65536\"]\n",
     "x.toml:2: pop3d.listen: port must be from 1 to 65535, got \"0.0.0.0:65536\""},
    {"listen_port_name", "[pop3d]\nlisten = [\"0.0.0.0:pop3\"]\n",
     "x.toml:2: pop3d.listen: port must be from 1 to 65535, got \"0.0.0.0:pop3\""},
    {"listen_empty_string", "[smtpd]\nlisten = [\"\"]\n",
     "x.toml:2: smtpd.listen: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"\""},
    {"metrics_name", "[pop3d]\nmetrics = \"localhost:9102\"\n",
     "x.toml:2: pop3d.metrics: expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"localhost:9102\""},
    {"dns_without_port", "[relay]\ndns = \"8.8.8.8\"\n",
     "x.toml:2: relay.dns: expected \"system\" or \"IP:PORT\" of a resolver, got \"8.8.8.8\""},
    {"dns_empty", "[relay]\ndns = \"\"\n", "x.toml:2: relay.dns: expected \"system\" or \"IP:PORT\" of a resolver, got \"\""},
    {"smarthost_without_port", "[relay]\nsmarthost = \"relay.example.com\"\n",
     "x.toml:2: relay.smarthost: expected \"HOST:PORT\", got \"relay.example.com\""},
    {"smarthost_bad_name", "[relay]\nsmarthost = \"relay_1.example.com:25\"\n",
     "x.toml:2: relay.smarthost: expected \"HOST:PORT\", got \"relay_1.example.com:25\""},
    {"route_bad_next_hop", "[relay]\nroutes = { \"partner.test\" = \"partner.test\" }\n",
     "x.toml:2: relay.routes.\"partner.test\": expected \"HOST:PORT\", got \"partner.test\""},
    {"route_next_hop_integer", "[relay.routes]\n\"partner.test\" = 2626\n",
     "x.toml:2: relay.routes.\"partner.test\": expected a string, got integer"},
    {"route_bad_domain", "[relay.routes]\n\"partner test\" = \"127.0.0.1:2626\"\n",
     "x.toml:2: relay.routes.\"partner test\": expected a domain name (IDNs as xn-- A-labels) or an address literal"},
    {"route_bad_literal", "[relay.routes]\n\"[300.1.1.1]\" = \"127.0.0.1:2626\"\n",
     "x.toml:2: relay.routes.\"[300.1.1.1]\": expected a domain name (IDNs as xn-- A-labels) or an address literal"},
    {"route_listed_twice", "[relay.routes]\n\"partner.test\" = \"127.0.0.1:1\"\n\"Partner.Test\" = \"127.0.0.1:2\"\n",
     "x.toml:3: relay.routes.\"Partner.Test\": a route for this domain is already listed"},
    {"listen_twice", "[smtpd]\nlisten = [\"0.0.0.0:25\", \"0.0.0.0:25\"]\n",
     "x.toml:2: smtpd.listen: 0.0.0.0:25 is listed twice"},
    {"metrics_clash", "[pop3d]\nmetrics = \"127.0.0.1:9101\"\n",
     "x.toml:2: pop3d.metrics: 127.0.0.1:9101 is also used by smtpd.metrics"},
    {"listener_clash_with_default", "[smtpd]\nlisten = [\"[::]:110\"]\n",
     "x.toml:2: smtpd.listen: [::]:110 is also used by pop3d.listen"},

    // TLS.
    {"tls_without_key", "\n[tls]\ncertificate = \"c.pem\"\n",
     "x.toml:2: tls.private_key: missing; [tls] needs both certificate and private_key"},
    {"tls_without_certificate", "[tls]\nprivate_key = \"k.pem\"\n",
     "x.toml:1: tls.certificate: missing; [tls] needs both certificate and private_key"},
    {"tls_empty_table", "[tls]\n", "x.toml:1: tls.certificate: missing; [tls] needs both certificate and private_key"},
    {"tls_empty_certificate", "[tls]\ncertificate = \"\"\nprivate_key = \"k.pem\"\n",
     "x.toml:2: tls.certificate: must not be empty"},
    {"submission_without_tls", "hostname = \"a.test\"\n[smtpd]\nsubmission = [\"0.0.0.0:587\"]\n",
     "x.toml:3: smtpd.submission: needs [tls] certificate and private_key"},
    {"submissions_without_tls", "[smtpd]\nlisten = []\n\n\nsubmissions = [\"0.0.0.0:465\"]\n",
     "x.toml:5: smtpd.submissions: needs [tls] certificate and private_key"},
    {"pop3s_without_tls", "[pop3d]\ntls_listen = [\"0.0.0.0:995\"]\n",
     "x.toml:2: pop3d.tls_listen: needs [tls] certificate and private_key"},

    // TOML syntax, reported with the column from toml++.
    {"syntax_unterminated_array", "a = 1\nb = [\n", "x.toml:2:7: Error while parsing array: encountered end-of-file"},
    {"syntax_duplicate_key", "[smtpd]\nmax_recipients = 1\nmax_recipients = 2\n",
     "x.toml:3:18: Error while parsing key-value pair: cannot redefine existing integer 'max_recipients'"},
    {"syntax_integer_overflow", "[smtpd]\nmax_recipients = 99999999999999999999\n",
     "x.toml:2:38: Error while parsing decimal integer: '99999999999999999999' is not representable in 64 bits"},
};

// Findings that stop only aviary-pop3d, or that it logs as warnings
// (issue 11 item 34): with the file's line and key, like the errors.
struct FindingCase {
  std::string label;
  std::string toml;
  std::vector<std::string> warnings;
  std::vector<std::string> pop3d_errors;
};

const std::string tls_table = "[tls]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n";

const FindingCase finding_cases[] = {
    {"defaults_without_tls", "",
     {},
     {"x.toml: pop3d.listen: no [tls] is configured and allow_plaintext_auth is false, so nobody could log in: "
      "configure [tls] (or, on a trusted network only, set allow_plaintext_auth = true, or listen = [] to serve "
      "no POP3)"}},
    {"plaintext_false_without_tls", "[pop3d]\nallow_plaintext_auth = false\n",
     {},
     {"x.toml:2: pop3d.allow_plaintext_auth: no [tls] is configured and allow_plaintext_auth is false, so nobody "
      "could log in: configure [tls] (or, on a trusted network only, set allow_plaintext_auth = true, or listen = [] "
      "to serve no POP3)"}},
    {"no_pop3_listeners_without_tls", "[pop3d]\nlisten = []\n", {}, {}},
    {"defaults_with_tls", tls_table, {}, {}},
    {"plaintext_on_every_address", "[pop3d]\nallow_plaintext_auth = true\n",
     {"x.toml:2: pop3d.allow_plaintext_auth: true, and 0.0.0.0:110 is not a loopback address: passwords may cross "
      "the network in clear"},
     {}},
    {"plaintext_on_loopback_only", "[pop3d]\nlisten = [\"127.0.0.1:110\", \"[::1]:110\"]\nallow_plaintext_auth = true\n",
     {}, {}},
    {"plaintext_on_one_public_address",
     "[pop3d]\nlisten = [\"127.0.0.1:110\", \"192.0.2.1:110\"]\nallow_plaintext_auth = true\n",
     {"x.toml:3: pop3d.allow_plaintext_auth: true, and 192.0.2.1:110 is not a loopback address: passwords may "
      "cross the network in clear"},
     {}},
    {"idle_timeout_below_rfc_1939", tls_table + "[pop3d]\nidle_timeout = \"9m\"\n",
     {"x.toml:5: pop3d.idle_timeout: below the 10 minutes RFC 1939 §3 requires; clients may be logged out while "
      "they work"},
     {}},
    {"idle_timeout_at_rfc_1939", tls_table + "[pop3d]\nidle_timeout = \"10m\"\n", {}, {}},
};

class ConfigFindings : public testing::TestWithParam<FindingCase> {};

TEST_P(ConfigFindings, Case) {
  const FindingCase& c = GetParam();
  Config config = parse_config(c.toml, "x.toml");
  EXPECT_EQ(config.pop3d_warnings, c.warnings);
  EXPECT_EQ(config.pop3d_errors, c.pop3d_errors);
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigFindings, testing::ValuesIn(finding_cases), case_name<FindingCase>);

struct PasswordMemoryCase {
  std::string label;
  std::uint32_t memory_kib;
  unsigned threads;
  std::uint64_t ram;
  bool fits;
};

const PasswordMemoryCase password_memory_cases[] = {
    {"default_on_a_small_vm", 19 * 1024, 2, 1ull << 30, true},
    {"exactly_a_quarter", 64 * 1024, 4, 1ull << 30, true},
    {"just_over_a_quarter", 64 * 1024 + 1, 4, 1ull << 30, false},
    {"one_gib_per_hash_on_many_cores", 1024 * 1024, 32, 64ull << 30, false},
    {"four_gib_on_a_big_machine", 4 * 1024 * 1024, 2, 64ull << 30, true},
};

class PasswordMemory : public testing::TestWithParam<PasswordMemoryCase> {};

TEST_P(PasswordMemory, Case) {
  const PasswordMemoryCase& c = GetParam();
  PasswordParams params;
  params.memory_kib = c.memory_kib;
  auto problem = password_memory_problem(params, c.threads, c.ram);
  EXPECT_EQ(!problem.has_value(), c.fits) << problem.value_or("");
}

INSTANTIATE_TEST_SUITE_P(Config, PasswordMemory, testing::ValuesIn(password_memory_cases),
                         case_name<PasswordMemoryCase>);

TEST(Config, PasswordMemoryProblemSaysWhy) {
  PasswordParams params;
  params.memory_kib = 1024 * 1024;
  EXPECT_EQ(password_memory_problem(params, 8, 16ull << 30).value_or(""),
            "1GiB for each of 8 concurrent hashes (one per core) is 8GiB, more than a quarter of this machine's "
            "16GiB of memory");
}

class ConfigRejects : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigRejects, Case) {
  const ErrorCase& c = GetParam();
  try {
    parse_config(c.toml, "x.toml");
    FAIL() << "accepted:\n" << c.toml;
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), c.message) << "config:\n" << c.toml;
  }
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigRejects, testing::ValuesIn(error_cases), case_name<ErrorCase>);

TEST(Config, TlsCasesAreValidWithTheTlsTable) {
  // The same listeners as the failing cases above, once [tls] is there.
  for (const char* listeners : {"[smtpd]\nsubmission = [\"0.0.0.0:587\"]\n", "[smtpd]\nsubmissions = [\"0.0.0.0:465\"]\n",
                                "[pop3d]\ntls_listen = [\"0.0.0.0:995\"]\n"}) {
    EXPECT_NO_THROW(parse_config(std::string(tls) + listeners, "x.toml")) << listeners;
  }
}

// parse_endpoint and is_domain_name ---------------------------------------

struct EndpointCase {
  const char* label;
  const char* text;
  HostKind kind;
  const char* expected;  // to_string() of the result, or the error message
  bool ok;
};

const EndpointCase endpoint_cases[] = {
    {"ipv4", "192.0.2.1:25", HostKind::ip_literal, "192.0.2.1:25", true},
    {"ipv6", "[2001:db8::1]:587", HostKind::ip_literal, "[2001:db8::1]:587", true},
    {"ipv6_canonical", "[2001:DB8:0:0::1]:25", HostKind::ip_literal, "[2001:db8::1]:25", true},
    {"ipv6_any", "[::]:25", HostKind::ip_literal, "[::]:25", true},
    {"ipv4_mapped", "[::ffff:192.0.2.1]:25", HostKind::ip_literal, "[::ffff:192.0.2.1]:25", true},
    {"port_max", "127.0.0.1:65535", HostKind::ip_literal, "127.0.0.1:65535", true},
    {"name_lowercased", "MX.Partner.Test:2626", HostKind::any, "mx.partner.test:2626", true},
    {"single_label_name", "localhost:25", HostKind::any, "localhost:25", true},
    {"ip_where_names_allowed", "[::1]:25", HostKind::any, "[::1]:25", true},
    {"name_where_ip_needed", "localhost:25", HostKind::ip_literal,
     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"localhost:25\"", false},
    {"ipv4_short", "10.1.2:25", HostKind::any, "expected \"HOST:PORT\", got \"10.1.2:25\"", false},
    {"ipv4_octet_too_big", "256.0.0.1:25", HostKind::ip_literal,
     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"256.0.0.1:25\"", false},
    {"ipv6_zone", "[fe80::1%eth0]:25", HostKind::ip_literal,
     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"[fe80::1%eth0]:25\"", false},
    {"ipv6_text_after_bracket", "[::1]x:25", HostKind::ip_literal,
     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"[::1]x:25\"", false},
    {"ipv6_unclosed", "[::1:25", HostKind::ip_literal, "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \"[::1:25\"",
     false},
    {"port_sign", "127.0.0.1:+25", HostKind::ip_literal, "port must be from 1 to 65535, got \"127.0.0.1:+25\"", false},
    {"port_long", "127.0.0.1:000025", HostKind::ip_literal, "port must be from 1 to 65535, got \"127.0.0.1:000025\"",
     false},
    {"port_empty", "[::1]:", HostKind::ip_literal, "port must be from 1 to 65535, got \"[::1]:\"", false},
    {"blank_around", " 127.0.0.1:25", HostKind::ip_literal,
     "expected \"IPv4:PORT\" or \"[IPv6]:PORT\", got \" 127.0.0.1:25\"", false},
};

class ParseEndpoint : public testing::TestWithParam<EndpointCase> {};

TEST_P(ParseEndpoint, Case) {
  const EndpointCase& c = GetParam();
  auto result = parse_endpoint(c.text, c.kind);
  ASSERT_EQ(result.ok(), c.ok) << c.text;
  if (c.ok) {
    EXPECT_EQ(result->to_string(), c.expected);
  } else {
    EXPECT_EQ(result.error().code, Errc::invalid);
    EXPECT_EQ(result.error().message, c.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Config, ParseEndpoint, testing::ValuesIn(endpoint_cases), case_name<EndpointCase>);

struct DomainCase {
  const char* label;
  std::string name;
  bool valid;
};

const DomainCase domain_cases[] = {
    {"plain", "mail.example.org", true},
    {"single_label", "localhost", true},
    {"digits_and_hyphens", "mx-1.2nd.example", true},
    {"a_label", "xn--bcher-kva.example", true},
    {"label_63", std::string(63, 'a') + ".test", true},
    {"name_253", std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                     std::string(61, 'd'), true},
    {"empty", "", false},
    {"label_64", std::string(64, 'a') + ".test", false},
    {"name_254", std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                     std::string(62, 'd'), false},
    {"trailing_dot", "example.org.", false},
    {"leading_dot", ".example.org", false},
    {"empty_label", "a..b", false},
    {"leading_hyphen", "-a.test", false},
    {"trailing_hyphen", "a-.test", false},
    {"underscore", "a_b.test", false},
    {"space", "a b.test", false},
    {"utf8", "b\xC3\xBC" "cher.example", false},
    {"numeric_tld", "192.0.2.1", false},
};

class IsDomainName : public testing::TestWithParam<DomainCase> {};

TEST_P(IsDomainName, Case) { EXPECT_EQ(is_domain_name(GetParam().name), GetParam().valid) << GetParam().name; }

INSTANTIATE_TEST_SUITE_P(Config, IsDomainName, testing::ValuesIn(domain_cases), case_name<DomainCase>);

}  // namespace
}  // namespace aviary
