// commands.cpp - the POP3 command tables and handlers.
#include "pop3d/commands.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <variant>

#include "common/sasl.hpp"
#include "common/text.hpp"

namespace aviary::pop3d {
namespace {

using Handler = Reply (*)(SessionState&, std::string_view args);

struct Command {
  std::string_view verb;
  Handler handler;
};

Reply ok(std::string text = {}, Next next = {}) { return Reply::success(std::move(text), std::move(next)); }
Reply err(std::string text, std::string code = {}) { return Reply::failure(std::move(text), std::move(code)); }
// An unknown command or a syntax error: counts toward pop3d.max_errors.
Reply bad(std::string text) { return Reply::bad(std::move(text)); }

Reply plaintext_refused() {
  return err("Plaintext authentication disallowed on non-secure (TLS) connections", "AUTH");
}

// A number argument (RFC 1939 §3: "msg" and TOP's "n" are decimal
// numbers), of any length: a number past 2^64 is well formed too, and
// saturates (no such message; for TOP, every line).
std::optional<std::size_t> number(std::string_view text) {
  auto n = parse_decimal(text, Overflow::saturate);
  if (!n) return std::nullopt;
  return static_cast<std::size_t>(std::min<std::uint64_t>(*n, std::numeric_limits<std::size_t>::max()));
}

// The message a TRANSACTION command names, or the -ERR explaining why not.
// Only an argument that is no number is a syntax error; a number naming no
// message is a well-formed command answered -ERR, not counted as bad.
std::variant<std::size_t, Reply> message_arg(const SessionState& s, std::string_view arg) {
  auto n = number(arg);
  if (!n) return bad("Invalid message number: " + std::string(arg));
  if (!s.maildrop->exists(*n)) return err("There is no message " + std::string(arg));
  if (s.maildrop->is_deleted(*n)) return err("Message " + std::to_string(*n) + " is deleted");
  return *n;
}

std::pair<std::string_view, std::string_view> split(std::string_view args) {
  auto space = args.find(' ');
  if (space == std::string_view::npos) return {args, {}};
  return {args.substr(0, space), args.substr(space + 1)};
}

// AUTHORIZATION state.

Reply capa(SessionState& s, std::string_view) {
  Reply r = ok("Capability list follows");
  r.multiline = true;
  r.lines = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"};
  if (s.state == State::authorization && s.login_allowed()) {
    r.lines.push_back("USER");
    r.lines.push_back("SASL PLAIN");
  }
  if (s.state == State::authorization && s.tls_available && !s.tls) r.lines.push_back("STLS");
  r.lines.push_back("IMPLEMENTATION Aviary");
  return r;
}

Reply user(SessionState& s, std::string_view args) {
  if (!s.login_allowed()) return plaintext_refused();
  if (args.empty()) return bad("Syntax: USER name");
  s.user = std::string(args);
  return ok();
}

Reply pass(SessionState& s, std::string_view args) {
  if (!s.login_allowed()) return plaintext_refused();
  if (s.user.empty()) return err("No user name given: USER first");
  // RFC 1939 §7: the password may contain spaces.
  return ok({}, next::Authenticate{std::exchange(s.user, {}), std::string(args)});
}

Reply auth(SessionState& s, std::string_view args) {
  if (args.empty()) {
    // What Dovecot and others answer: the mechanisms, as a list.
    Reply r = ok();
    r.multiline = true;
    if (s.login_allowed()) r.lines = {"PLAIN"};
    return r;
  }
  if (!s.login_allowed()) return plaintext_refused();
  auto [mechanism, initial] = split(args);
  if (to_upper(mechanism) != "PLAIN") return err("Unsupported authentication mechanism " + std::string(mechanism));
  if (initial.empty()) return ok({}, next::SaslContinue{});
  // RFC 5034 §4: "=" is an empty initial response.
  return plain_response(initial == "=" ? std::string_view() : initial);
}

Reply stls(SessionState& s, std::string_view args) {
  if (s.tls) return err("TLS is already active");
  if (!s.tls_available) return err("STLS is not available");
  if (!args.empty()) return bad("Syntax: STLS");
  return ok("Begin TLS negotiation", next::StartTls{});
}

Reply quit_authorization(SessionState&, std::string_view) { return ok("Bye", next::Close{}); }

// TRANSACTION state.

Reply stat(SessionState& s, std::string_view) {
  return ok(std::to_string(s.maildrop->live_count()) + " " + std::to_string(s.maildrop->live_size()));
}

// LIST and UIDL share their shape: all live messages, or one.
template <class Field>
Reply listing(SessionState& s, std::string_view args, Field field) {
  if (!args.empty()) {
    auto m = message_arg(s, args);
    if (auto* e = std::get_if<Reply>(&m)) return *e;
    std::size_t n = std::get<std::size_t>(m);
    return ok(std::to_string(n) + " " + field(*s.maildrop->find(n)));
  }
  Reply r = ok(std::to_string(s.maildrop->live_count()) + " messages");
  r.multiline = true;
  for (std::size_t n = 1; n <= s.maildrop->count(); ++n) {
    if (auto* m = s.maildrop->find(n)) r.lines.push_back(std::to_string(n) + " " + field(*m));
  }
  return r;
}

Reply list(SessionState& s, std::string_view args) {
  return listing(s, args, [](const storage::MessageInfo& m) { return std::to_string(m.size); });
}

Reply uidl(SessionState& s, std::string_view args) {
  return listing(s, args, [](const storage::MessageInfo& m) { return m.uidl; });
}

Reply retr(SessionState& s, std::string_view args) {
  auto m = message_arg(s, args);
  if (auto* e = std::get_if<Reply>(&m)) return *e;
  std::size_t n = std::get<std::size_t>(m);
  return ok(std::to_string(s.maildrop->find(n)->size) + " octets", next::SendMessage{n, std::nullopt});
}

Reply top(SessionState& s, std::string_view args) {
  auto [msg, lines] = split(args);
  auto count = number(lines);
  if (msg.empty() || !count) return bad("Syntax: TOP msg n");
  auto m = message_arg(s, msg);
  if (auto* e = std::get_if<Reply>(&m)) return *e;
  return ok({}, next::SendMessage{std::get<std::size_t>(m), *count});
}

Reply dele(SessionState& s, std::string_view args) {
  auto m = message_arg(s, args);
  if (auto* e = std::get_if<Reply>(&m)) return *e;
  s.maildrop->mark_deleted(std::get<std::size_t>(m));
  return ok("Marked to be deleted");
}

Reply rset(SessionState& s, std::string_view) {
  s.maildrop->unmark_all();
  return ok();
}

Reply noop(SessionState&, std::string_view) { return ok(); }

Reply quit_transaction(SessionState&, std::string_view) { return ok("Logging out", next::Update{}); }

// The protocol at a glance: what each state accepts.
constexpr Command authorization_commands[] = {
    {"CAPA", capa}, {"USER", user}, {"PASS", pass}, {"AUTH", auth}, {"STLS", stls}, {"QUIT", quit_authorization},
};

constexpr Command transaction_commands[] = {
    {"CAPA", capa}, {"STAT", stat}, {"LIST", list}, {"UIDL", uidl}, {"RETR", retr}, {"TOP", top},
    {"DELE", dele}, {"RSET", rset}, {"NOOP", noop}, {"QUIT", quit_transaction},
};

template <std::size_t N>
const Command* lookup(const Command (&table)[N], std::string_view verb) {
  auto it = std::find_if(std::begin(table), std::end(table), [&](const Command& c) { return c.verb == verb; });
  return it == std::end(table) ? nullptr : it;
}

}  // namespace

Reply plain_response(std::string_view response) {
  if (response == "*") return err("Authentication cancelled");
  auto credentials = decode_plain(response);
  if (!credentials) {
    Reply r = err("Invalid SASL PLAIN response", "AUTH");
    r.bad_command = true;  // a syntax error, like a malformed command
    return r;
  }
  return ok({}, next::Authenticate{credentials->user, credentials->password});
}

Reply handle_command(SessionState& state, std::string_view line) {
  auto [verb_text, args] = split(line);
  std::string verb = to_upper(verb_text);
  if (state.state == State::authorization) {
    if (auto* c = lookup(authorization_commands, verb)) return c->handler(state, args);
    // RFC 1939 §3: a command of another state is unknown in this one.
    if (lookup(transaction_commands, verb)) return bad("Not logged in");
  } else {
    if (auto* c = lookup(transaction_commands, verb)) return c->handler(state, args);
    if (lookup(authorization_commands, verb)) return bad("Already logged in");
  }
  return bad("Unknown command " + verb);
}

}  // namespace aviary::pop3d
