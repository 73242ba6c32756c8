// options.cpp - aviary-pop3load's command line.
#include "tools/pop3load/options.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>

namespace aviary::pop3load {

std::string Options::user_name(std::uint32_t i) const {
  std::string out;
  auto n = std::to_string(i);
  // Bounded by the length of the format.
  for (std::size_t p = 0; p < user_format.size(); ++p) {
    if (user_format[p] == '%' && p + 1 < user_format.size() && user_format[p + 1] == 'u') {
      out += n;
      ++p;
    } else {
      out += user_format[p];
    }
  }
  return out;
}

Options parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{
      "aviary-pop3load - C concurrent POP3 users each log in, STAT, UIDL, RETR every message\n"
      "and QUIT (no DELE, so runs repeat); reports messages/s, MB/s and RETR latency."};
  app.set_version_flag("--version", "aviary-pop3load 0.1.0");

  std::string server = o.server.to_string();
  std::string tls = "none";
  double timeout_s = 30;
  std::uint64_t expect = 0;

  app.add_option("--server", server, "HOST:PORT to connect to (IP literal, [v6]:port)")
      ->capture_default_str();
  app.add_option("--users,-c", o.users, "concurrent users, one session each")
      ->check(CLI::Range(1u, 100'000u))
      ->capture_default_str();
  app.add_option("--user-format", o.user_format, "user names, %u replaced by 1..N")
      ->capture_default_str();
  app.add_option("--password", o.password, "the password of every user")->capture_default_str();
  app.add_option("--rounds,-r", o.rounds, "logins per user, one after the other")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--tls", tls, "none, stls or implicit (certificates are not verified)")
      ->check(CLI::IsMember({"none", "stls", "implicit"}))
      ->capture_default_str();
  app.add_option("--expect", expect, "fail a session whose STAT does not show this many messages");
  app.add_option("--timeout", timeout_s, "seconds allowed for each connect, read or write")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "threads running the sessions")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_flag("--json", o.json, "print one JSON object on stdout (the human line goes to stderr)");

  try {
    app.parse(argc, argv);
    auto endpoint = parse_endpoint(server, HostKind::ip_literal);
    if (!endpoint) throw CLI::ValidationError("--server", endpoint.error().message);
    o.server = *endpoint;
    o.tls = tls == "stls" ? TlsMode::stls : tls == "implicit" ? TlsMode::implicit : TlsMode::none;
    o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(timeout_s * 1000)));
    if (app.count("--expect") > 0) o.expect = expect;
    if (o.password.find_first_of("\r\n") != std::string::npos)
      throw CLI::ValidationError("--password", "must not contain CR or LF");
    if (o.user_format.find_first_of(" \r\n") != std::string::npos)
      throw CLI::ValidationError("--user-format", "must not contain spaces, CR or LF");
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    std::exit(code == 0 ? 0 : 2);
  }
  return o;
}

}  // namespace aviary::pop3load
