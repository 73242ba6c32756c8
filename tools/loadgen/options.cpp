// options.cpp - aviary-loadgen's command line (CLI11) and its validation.
#include "tools/loadgen/options.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "common/units.hpp"

namespace aviary::loadgen {

namespace {

// CLI11 validator for "4KiB", "512", "1MiB".
std::string check_size(const std::string& text) {
  if (!parse_size(text)) return "not a size (B, KiB, MiB, GiB): " + text;
  return {};
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{
      "aviary-loadgen - send N messages of S bytes over C concurrent SMTP sessions and report\n"
      "messages/s and the latency from the end of DATA to the final reply."};
  app.set_version_flag("--version", "aviary-loadgen 0.1.0");

  std::string server = o.server.to_string();
  std::string size = "4KiB";
  std::string rcpt_mode = "round-robin";
  double timeout_s = 30, hold_s = 10, duration_s = 0;

  app.add_option("--server", server, "HOST:PORT to connect to (IP literal, [v6]:port)")
      ->capture_default_str();
  app.add_option("--messages,-n", o.messages, "messages to send in all")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--size,-s", size, "message size, headers included (e.g. 4KiB)")
      ->check(check_size)
      ->capture_default_str();
  app.add_option("--concurrency,-c", o.concurrency, "concurrent sessions")
      ->check(CLI::Range(1u, 100'000u))
      ->capture_default_str();
  app.add_option("--per-connection,-k", o.per_connection,
                 "messages per connection before QUIT (1 = a connection per message)")
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--from", o.from, "envelope and header sender")->capture_default_str();
  app.add_option("--to", o.to, "recipient(s); repeat or separate with commas")
      ->delimiter(',');
  app.add_option("--rcpt-mode", rcpt_mode,
                 "round-robin: one recipient per message, in turn; all: the whole --to list")
      ->check(CLI::IsMember({"round-robin", "all"}))
      ->capture_default_str();
  app.add_option("--ehlo", o.ehlo, "EHLO name")->capture_default_str();
  app.add_option("--timeout", timeout_s, "seconds allowed for each connect, read or write")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--duration", duration_s,
                 "start no new message after this many seconds (0 = send all --messages)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--pipelining", o.pipelining,
               "send MAIL, RCPT and DATA in one write when the server offers PIPELINING");
  app.add_option("--threads", o.threads, "threads running the sessions")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  app.add_flag("--json", o.json, "print one JSON object on stdout (the human line goes to stderr)");
  app.add_option("--idle", o.idle,
                 "instead of sending: open N connections that only read the banner, print one "
                 "line, hold them for --hold seconds")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--hold", hold_s, "seconds to hold the --idle connections")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
    auto endpoint = parse_endpoint(server, HostKind::ip_literal);
    if (!endpoint) throw CLI::ValidationError("--server", endpoint.error().message);
    o.server = *endpoint;
    o.size = *parse_size(size);
    if (o.size < 1) throw CLI::ValidationError("--size", "must be at least 1 byte");
    o.rcpt_mode = rcpt_mode == "all" ? RcptMode::all : RcptMode::round_robin;
    o.timeout = seconds_to_ms(timeout_s);
    o.hold = seconds_to_ms(hold_s);
    if (duration_s > 0) o.duration = seconds_to_ms(duration_s);
    if (o.idle == 0 && o.to.empty()) throw CLI::RequiredError("--to");
    for (const auto& rcpt : o.to) {
      if (rcpt.empty() || rcpt.find_first_of("<> \r\n") != std::string::npos)
        throw CLI::ValidationError("--to", "not an address: '" + rcpt + "'");
    }
    if (o.from.find_first_of("<> \r\n") != std::string::npos)
      throw CLI::ValidationError("--from", "not an address: '" + o.from + "'");
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    std::exit(code == 0 ? 0 : 2);
  }
  return o;
}

}  // namespace aviary::loadgen
