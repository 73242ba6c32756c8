// commands.cpp - the SMTP command table and its handlers (RFC 5321 §4.1.1).
#include "smtpd/commands.hpp"

#include <algorithm>

#include "common/address.hpp"
#include "common/sasl.hpp"
#include "common/text.hpp"
#include "smtpd/command_parser.hpp"

namespace aviary::smtpd {
namespace {

using Handler = Reply (*)(SessionState&, const Services&, std::string_view args);

constexpr unsigned bit(Phase p) { return 1u << static_cast<unsigned>(p); }
constexpr unsigned any_phase = bit(Phase::connected) | bit(Phase::greeted) | bit(Phase::mail) | bit(Phase::rcpt);
constexpr unsigned after_helo = bit(Phase::greeted) | bit(Phase::mail) | bit(Phase::rcpt);

struct Command {
  std::string_view verb;
  unsigned phases;  // where the verb is allowed; elsewhere 503
  Handler handler;
  // Moves no mail forward (NOOP, RSET, VRFY, EXPN, HELP): counted against
  // smtpd.junk_command_limit, as Postfix's smtpd_junk_command_limit.
  bool junk = false;
};

// Postfix's smtpd_recipient_overshoot_limit: this many 452s for recipients
// past max_recipients are the client following RFC 5321 §4.5.3.1.10 (send
// them all, retry the 452s later), not errors; past it each one counts.
constexpr std::size_t recipient_overshoot_limit = 1000;

Reply ok(std::string enhanced = "2.0.0") { return Reply(250, std::move(enhanced), "Ok"); }
Reply syntax(std::string text) { return Reply(501, "5.5.4", "Syntax: " + std::move(text)); }

// HELO and EHLO (§4.1.1.1): a new session state, the transaction reset.
Reply hello(SessionState& s, const Services& svc, std::string_view args, bool extended) {
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  if (args.empty() || args.find(' ') != std::string_view::npos) {
    return syntax(extended ? "EHLO hostname" : "HELO hostname");
  }
  // Kept as sent (it is what the trace must show), but only written out
  // quoted when it is neither a domain nor an address literal (§4.1.1.1).
  s.helo = std::string(args);
  s.esmtp = extended;
  s.phase = Phase::greeted;
  s.reset_transaction();
  const std::string& host = svc.config.hostname;
  if (!extended) return Reply(250, "", host);
  Reply r(250, "", host + " Hello " + helo_for_trace(s.helo));
  r.lines.push_back("PIPELINING");
  r.lines.push_back("SIZE " + std::to_string(svc.config.smtpd.max_message_size));
  r.lines.push_back("8BITMIME");
  r.lines.push_back("SMTPUTF8");
  r.lines.push_back("ENHANCEDSTATUSCODES");
  if (svc.tls_available && !s.tls) r.lines.push_back("STARTTLS");
  if (s.listener.offers_auth && s.tls) r.lines.push_back("AUTH PLAIN LOGIN");
  // RFC 3030 CHUNKING only: BINARYMIME is not offered, since a binary body
  // could be neither checked for bare line ends nor relayed (the queue
  // sends with DATA).
  r.lines.push_back("CHUNKING");
  return r;
}

Reply helo(SessionState& s, const Services& svc, std::string_view args) { return hello(s, svc, args, false); }
Reply ehlo(SessionState& s, const Services& svc, std::string_view args) { return hello(s, svc, args, true); }

// RFC 6531 §3.4: a non-ASCII mailbox needs the SMTPUTF8 parameter, whether
// the UTF-8 is in the local part or in the domain (as written, before IDNA).
Reply needs_smtputf8() { return Reply(553, "5.6.7", "SMTPUTF8 is required for a non-ASCII address"); }

// Submission (RFC 6409 §4.3, RFC 4954 §6): TLS, then AUTH.
std::optional<Reply> submission_gate(const SessionState& s) {
  if (!s.listener.requires_auth) return std::nullopt;
  if (!s.tls) return Reply(530, "5.7.0", "Must issue a STARTTLS command first");
  if (s.auth_user.empty()) return Reply(530, "5.7.0", "Authentication required");
  return std::nullopt;
}

bool owns_sender(const SessionState& s, const Services& svc, const Address& sender) {
  if (sender.key() == s.auth_user) return true;
  // user+tag@domain is the user's own.
  std::string local = fold_local(sender.local);
  if (auto plus = local.find('+'); plus != std::string::npos && plus > 0) {
    if (local.substr(0, plus) + "@" + sender.domain == s.auth_user) return true;
  }
  // An alias that delivers to the user is the user's too; a catch-all is
  // not (it would make every address of the domain the user's).
  auto r = svc.store.resolve(sender, storage::CatchAll::ignore);
  return r.outcome == storage::Resolution::Outcome::deliver &&
         std::find(r.local.begin(), r.local.end(), s.auth_user) != r.local.end();
}

Reply mail(SessionState& s, const Services& svc, std::string_view args) {
  if (auto refused = submission_gate(s)) return *refused;
  auto parsed = parse_path_argument(args, "FROM:", true);
  if (!parsed) return syntax("MAIL FROM:<address> (" + parsed.error().message + ")");
  Transaction txn;
  if (parsed->address && parsed->address->domain.empty()) return syntax("MAIL FROM:<address> (address without a domain)");
  for (const auto& p : parsed->parameters) {
    if (p.keyword == "SIZE" && p.value) {
      auto size = parse_size_value(*p.value);
      if (!size) return syntax("SIZE=<number>");
      if (*size > svc.config.smtpd.max_message_size) {
        return Reply(552, "5.3.4", "Message size exceeds fixed limit");
      }
      txn.declared_size = *size;
    } else if (p.keyword == "BODY" && p.value) {
      std::string v = to_upper(*p.value);
      if (v == "7BIT") txn.body = BodyType::seven_bit;
      else if (v == "8BITMIME") txn.body = BodyType::eight_bit_mime;
      else return Reply(501, "5.5.4", "Unsupported BODY type " + *p.value);
    } else if (p.keyword == "SMTPUTF8" && !p.value) {
      txn.smtputf8 = true;
    } else if (p.keyword == "AUTH" && p.value && s.listener.accepts_auth_parameter) {
      // RFC 4954 §5: the original submitter; we know who authenticated.
    } else {
      return Reply(555, "5.5.4", "Unsupported parameter " + p.keyword);
    }
  }
  if (!s.esmtp && !parsed->parameters.empty()) return Reply(555, "5.5.4", "Parameters need EHLO");
  if (!is_ascii(parsed->text) && !txn.smtputf8) return needs_smtputf8();
  if (s.listener.checks_sender) {
    // Only the user's own addresses (RFC 6409 §4.3, §6.1).
    if (!parsed->address) return Reply(553, "5.7.1", "The null sender is not allowed for submission");
    if (!owns_sender(s, svc, *parsed->address)) {
      return Reply(553, "5.7.1", "<" + parsed->address->to_string() + ">: Sender address rejected: not owned by user " + s.auth_user);
    }
  }
  txn.sender = parsed->address ? parsed->address->to_string() : "";
  s.txn = std::move(txn);
  s.phase = Phase::mail;
  return ok("2.1.0");
}

// RFC 5321 §4.5.1: "<Postmaster>" without a domain must be accepted. It
// goes to the hosted domain that is our hostname or its nearest parent.
std::string postmaster_domain(const Services& svc) {
  std::string_view name = svc.config.hostname;
  for (std::string_view candidate = name; !candidate.empty();) {
    auto domain = normalize_domain(candidate);
    if (domain && svc.store.is_hosted(*domain)) return *domain;
    auto dot = candidate.find('.');
    if (dot == std::string_view::npos) break;
    candidate.remove_prefix(dot + 1);
  }
  // Otherwise the first hosted domain that has a postmaster.
  for (const auto& domain : svc.store.list_domains()) {
    auto r = svc.store.resolve(Address{"postmaster", domain.name}, storage::CatchAll::use);
    if (r.outcome == storage::Resolution::Outcome::deliver) return domain.name;
  }
  return svc.config.hostname;
}

// True when relay.routes has an entry for this address literal ("[192.0.2.1]").
bool routed_literal(const Services& svc, std::string_view literal) {
  return svc.config.relay.routes.contains(to_lower(literal));
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

Reply rcpt(SessionState& s, const Services& svc, std::string_view args) {
  auto parsed = parse_path_argument(args, "TO:", false);
  if (!parsed) return syntax("RCPT TO:<address> (" + parsed.error().message + ")");
  if (!parsed->parameters.empty()) return Reply(555, "5.5.4", "Unsupported parameter " + parsed->parameters[0].keyword);
  Address rcpt = *parsed->address;
  if (rcpt.domain.empty()) rcpt.domain = postmaster_domain(svc);  // "<Postmaster>"
  if (!is_ascii(parsed->text) && !s.txn.smtputf8) return needs_smtputf8();
  if (s.txn.recipients.size() >= svc.config.smtpd.max_recipients) {
    Reply r(452, "4.5.3", "Error: too many recipients");
    r.counts_as_error = ++s.txn.excess_recipients > recipient_overshoot_limit;
    return r;
  }
  const std::string shown = "<" + rcpt.to_string() + ">";

  auto r = svc.store.resolve(rcpt, storage::CatchAll::use);
  using Outcome = storage::Resolution::Outcome;
  switch (r.outcome) {
    case Outcome::not_hosted:
      if (s.listener.relays && rcpt.domain.starts_with('[') && !routed_literal(svc, rcpt.domain)) {
        // A domain literal would go straight to that address, past the
        // smarthost and the routes: users could make the relay connect to
        // internal hosts. Only a [relay] route may name one.
        svc.metrics.recipient("rejected");
        return Reply(550, "5.7.1", shown + ": Recipient address rejected: domain literals are not accepted here");
      }
      if (s.listener.relays) {
        // An authenticated user may send anywhere: the queue takes it.
        add_unique(s.txn.remote, rcpt.to_string());  // remote local parts keep their case
        s.txn.recipients.push_back(rcpt.to_string());
        svc.metrics.recipient("relay");
        s.phase = Phase::rcpt;
        return ok("2.1.5");
      }
      svc.metrics.recipient("rejected");
      return Reply(554, "5.7.1", shown + ": Relay access denied");
    case Outcome::unknown_user:
      svc.metrics.recipient("rejected");
      return Reply(550, "5.1.1", shown + ": Recipient address rejected: User unknown");
    case Outcome::loop:
      svc.metrics.recipient("rejected");
      return Reply(550, "5.4.6", shown + ": Alias expansion loop");
    case Outcome::deliver:
      break;
  }
  for (const auto& user : r.local) {
    // RFC 1893 X.2.2: refused now, while the client can still tell its sender.
    if (!svc.store.fits_quota(user, s.txn.declared_size.value_or(1))) {
      svc.metrics.recipient("rejected");
      return Reply(552, "5.2.2", shown + ": Mailbox full");
    }
  }
  for (const auto& user : r.local) add_unique(s.txn.local, user);
  for (const auto& remote : r.remote) add_unique(s.txn.remote, remote);
  s.txn.recipients.push_back(rcpt.to_string());
  svc.metrics.recipient(r.local.empty() ? "relay" : "local");
  s.phase = Phase::rcpt;
  return ok("2.1.5");
}

Reply data(SessionState& s, const Services&, std::string_view args) {
  if (!args.empty()) return syntax("DATA");
  if (s.txn.bdat_started) return Reply(503, "5.5.1", "Error: DATA after BDAT");
  return Reply(354, "", "End data with <CR><LF>.<CR><LF>", next::ReadData{});
}

// RFC 3030 §2: the chunk follows whatever the answer; it is read before the
// reply goes out, so the session always reads it.
Reply bdat(SessionState& s, const Services&, std::string_view args) {
  auto cmd = parse_bdat(args);
  if (!cmd) return syntax("BDAT <size> [LAST]");
  if (s.phase != Phase::rcpt) {
    return Reply(503, "5.5.1", s.phase == Phase::mail ? "Error: need RCPT command" : "Error: need MAIL command", *cmd);
  }
  if (s.txn.bdat_failed) return Reply(503, "5.5.1", "Error: transaction failed, send RSET", *cmd);
  s.txn.bdat_started = true;
  return Reply(250, "2.0.0", std::to_string(cmd->size) + " octets received", *cmd);
}

Reply rset(SessionState& s, const Services&, std::string_view) {
  s.reset_transaction();
  return ok();
}

Reply noop(SessionState&, const Services&, std::string_view) { return ok(); }

Reply quit(SessionState&, const Services& svc, std::string_view) {
  return Reply(221, "2.0.0", svc.config.hostname + " closing connection", next::Close{});
}

// §3.5.3: VRFY would let anyone harvest addresses.
Reply vrfy(SessionState&, const Services&, std::string_view args) {
  if (args.empty()) return syntax("VRFY address");
  return Reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

Reply expn(SessionState&, const Services&, std::string_view) { return Reply(502, "5.5.1", "Error: command not implemented"); }

Reply help(SessionState&, const Services&, std::string_view) {
  return Reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS");
}

Reply starttls(SessionState& s, const Services& svc, std::string_view args) {
  if (!svc.tls_available) return Reply(502, "5.5.1", "Error: command not implemented");
  if (s.tls) return Reply(503, "5.5.1", "Error: TLS already active");
  if (!args.empty()) return syntax("STARTTLS");
  return Reply(220, "2.0.0", "Ready to start TLS", next::StartTls{});
}

// RFC 4954 §4: AUTH mechanism [initial-response].
Reply auth(SessionState& s, const Services&, std::string_view args) {
  // RFC 4954 §4 and RFC 8314: passwords only inside TLS, never on port 25.
  if (!s.listener.offers_auth) return Reply(503, "5.5.1", "Error: authentication not enabled");
  if (!s.tls) return Reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  if (!s.auth_user.empty()) return Reply(503, "5.5.1", "Error: already authenticated");
  if (s.phase == Phase::mail || s.phase == Phase::rcpt) return Reply(503, "5.5.1", "Error: MAIL transaction in progress");
  auto space = args.find(' ');
  std::string mechanism = to_upper(args.substr(0, space));
  if (mechanism.empty()) return syntax("AUTH mechanism [initial-response]");
  if (mechanism != "PLAIN" && mechanism != "LOGIN") return Reply(504, "5.5.4", "Unrecognized authentication type");
  s.sasl = SaslExchange{mechanism, {}};
  if (space == std::string_view::npos) {
    // PLAIN: an empty challenge; LOGIN: "Username:".
    return Reply(334, "", mechanism == "PLAIN" ? "" : base64_encode("Username:"), next::SaslContinue{});
  }
  std::string_view initial = args.substr(space + 1);
  return handle_sasl_response(s, initial == "=" ? std::string_view() : initial);
}

// The protocol at a glance.
constexpr Command commands[] = {
    {"EHLO", any_phase, ehlo},
    {"HELO", any_phase, helo},
    {"MAIL", bit(Phase::greeted), mail},
    {"RCPT", bit(Phase::mail) | bit(Phase::rcpt), rcpt},
    {"DATA", bit(Phase::rcpt), data},
    {"BDAT", any_phase, bdat},
    {"RSET", any_phase, rset, true},
    {"NOOP", any_phase, noop, true},
    {"QUIT", any_phase, quit},
    {"VRFY", any_phase, vrfy, true},
    {"EXPN", any_phase, expn, true},
    {"HELP", any_phase, help, true},
    {"STARTTLS", any_phase, starttls},
    {"AUTH", after_helo, auth},
};

Reply out_of_sequence(const SessionState& s, std::string_view verb) {
  if (s.phase == Phase::connected) return Reply(503, "5.5.1", "Error: send HELO/EHLO first");
  if (verb == "MAIL") return Reply(503, "5.5.1", "Error: nested MAIL command");
  if (verb == "DATA" && s.phase == Phase::mail) return Reply(503, "5.5.1", "Error: need RCPT command");
  return Reply(503, "5.5.1", "Error: need MAIL command");
}

}  // namespace

Reply handle_sasl_response(SessionState& s, std::string_view line) {
  SaslExchange& x = s.sasl;
  auto fail = [&](Reply r) {
    x = SaslExchange{};
    return r;
  };
  if (line == "*") return fail(Reply(501, "5.7.0", "Authentication aborted"));
  if (x.mechanism == "PLAIN") {
    auto credentials = decode_plain(line);
    if (!credentials) return fail(Reply(501, "5.5.2", "Cannot decode AUTH PLAIN response"));
    return verify({x.mechanism, credentials->user, credentials->password});
  }
  auto decoded = base64_decode(line);
  if (!decoded) return fail(Reply(501, "5.5.2", "Cannot decode AUTH LOGIN response"));
  if (x.user.empty()) {
    if (decoded->empty()) return fail(Reply(501, "5.5.2", "Empty user name"));
    x.user = *decoded;
    return Reply(334, "", base64_encode("Password:"), next::SaslContinue{});
  }
  return verify({x.mechanism, x.user, *decoded});
}

std::optional<BdatCommand> parse_bdat(std::string_view args) {
  BdatCommand cmd;
  auto space = args.find(' ');
  auto size = parse_decimal(args.substr(0, space), Overflow::refuse, 20);
  if (!size) return std::nullopt;
  cmd.size = *size;
  if (space != std::string_view::npos) {
    if (to_upper(args.substr(space + 1)) != "LAST") return std::nullopt;
    cmd.last = true;
  }
  return cmd;
}

Reply greeting(const Services& svc) { return Reply(220, "", svc.config.hostname + " ESMTP Aviary"); }

Reply handle_command(SessionState& state, const Services& services, std::string_view line) {
  CommandLine cmd = split_command(line);
  auto it = std::find_if(std::begin(commands), std::end(commands), [&](const Command& c) { return c.verb == cmd.verb; });
  // RFC 5321 §4.1.1: a command is printable text. A control byte (a bare CR
  // above all) must never reach a reply, a log line or a Received header.
  bool control = std::any_of(line.begin(), line.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (it == std::end(commands)) return Reply(500, "5.5.2", "Error: command not recognized");
  if (line.find('\0') != std::string_view::npos) return Reply(500, "5.5.2", "Error: bad syntax");
  if (control) return Reply(501, "5.5.4", "Syntax error: control characters in command");
  if (it->junk && ++state.junk_commands > services.config.smtpd.junk_command_limit) {
    // A client that only keeps the session busy loses it.
    return Reply(421, "4.7.0", services.config.hostname + " Error: too many junk commands", next::Close{});
  }
  if (!(it->phases & bit(state.phase))) {
    Reply r = out_of_sequence(state, cmd.verb);
    if (cmd.verb == "BDAT") {
      // The chunk follows even so (RFC 3030 §2).
      if (auto chunk = parse_bdat(cmd.args)) r.next = *chunk;
    }
    return r;
  }
  return it->handler(state, services, cmd.args);
}

}  // namespace aviary::smtpd
