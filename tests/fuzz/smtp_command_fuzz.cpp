// smtp_command_fuzz.cpp - libFuzzer target for SMTP command lines.
//
// The input is a session script: its first byte chooses whether TLS is
// configured (bit 0) and whether the session is on a submission listener
// (bit 1) instead of port 25; the rest is split into lines as the session
// does (at LF, one trailing CR removed). Every line goes through
// split_command, parse_path_argument and parse_bdat; the lines a session
// would accept (512 octets with CRLF) also go through handle_command on real
// Services (a temporary LMDB store with domains, users and aliases), with
// the I/O the reply asks for emulated: after a 334 the next line is an AUTH
// response, "alice@example.test" / "secret" are the only good
// credentials, and a BDAT that is not LAST leaves a chunk in the
// transaction (its own command line stands for the octets). Invariants are checked after every step; a violation aborts,
// which libFuzzer reports as a crash.
#include <prometheus/registry.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/address.hpp"
#include "common/config.hpp"
#include "smtpd/command_parser.hpp"
#include "smtpd/commands.hpp"
#include "smtpd/message_buffer.hpp"
#include "smtpd/metrics.hpp"
#include "smtpd/reply.hpp"
#include "smtpd/services.hpp"
#include "smtpd/session_state.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/env.hpp"
#include "storage/lmdb/lmdb_store.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/writer.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace aviary;
using namespace aviary::smtpd;

std::string temp_root;

// The store, writer and metrics, built once: only reads happen per input.
struct World {
  Config config;
  std::unique_ptr<storage::Env> env;
  std::unique_ptr<storage::LmdbStore> store;
  prometheus::Registry registry;
  std::unique_ptr<Metrics> metrics;

  World() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/aviary-command-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    temp_root = pattern;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(temp_root, ignored);
    });
    config.hostname = "mail.example.test";
    config.smtpd.max_message_size = 10000;
    config.smtpd.max_recipients = 5;
    env = std::make_unique<storage::Env>(storage::EnvOptions{temp_root + "/store", 64ull << 20});
    auto a = [](std::string_view text) {
      auto at = text.rfind('@');
      return Address{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
    };
    Status s = storage::write_once(*env, [&](storage::WriteTxn& t) -> Status {
      for (const char* d : {"example.test", "catch.test", "mail.example.test"}) {
        if (auto r = storage::add_domain(t, d); !r) return r;
      }
      for (const char* u : {"alice@example.test", "bob@example.test"}) {
        if (auto r = storage::add_user(t, a(u), "$argon2id$fuzz", 0); !r) return r.error();
      }
      auto full = storage::add_user(t, a("full@example.test"), "$argon2id$fuzz", 10);
      if (!full) return full.error();
      std::uint64_t blob = storage::put_blob(t, std::string(10, 'x'));
      if (auto r = storage::append_message(t, "full@example.test", blob, "", 0, storage::QuotaCheck::skip); !r) {
        return r.error();
      }
      if (auto r = storage::add_alias(t, a("team@example.test"), {a("alice@example.test"), a("bob@example.test")}); !r) {
        return r;
      }
      if (auto r = storage::add_alias(t, a("fwd@example.test"), {a("friend@remote.test")}); !r) return r;
      if (auto r = storage::add_alias(t, a("@catch.test"), {a("alice@example.test")}); !r) return r;
      return storage::add_alias(t, a("postmaster@mail.example.test"), {a("alice@example.test")});
    });
    if (!s) {
      std::fprintf(stderr, "cannot set up the store: %s\n", s.error().message.c_str());
      std::abort();
    }
    store = std::make_unique<storage::LmdbStore>(*env);
    metrics = std::make_unique<Metrics>(registry);
  }
};

World* world = nullptr;

bool is_upper_keyword(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

void check_split(std::string_view line, const CommandLine& cmd) {
  auto space = line.find(' ');
  CHECK(cmd.verb.find(' ') == std::string::npos, "verb without spaces");
  for (char c : cmd.verb) CHECK(!(c >= 'a' && c <= 'z'), "verb upper case");
  if (space == std::string_view::npos) {
    CHECK(cmd.verb.size() == line.size() && cmd.args.empty(), "whole line is the verb");
  } else {
    CHECK(cmd.verb.size() == space, "verb ends at the first space");
    CHECK(cmd.args == line.substr(space + 1), "args are the rest");
  }
}

void check_path(std::string_view args, std::string_view prefix, bool allow_null) {
  auto parsed = parse_path_argument(args, prefix, allow_null);
  if (!parsed) {
    CHECK(!parsed.error().message.empty(), "errors say why");
    return;
  }
  CHECK(args.find(parsed->text) != std::string_view::npos, "text comes from the argument");
  CHECK(allow_null || parsed->address.has_value(), "no null path where refused");
  for (const auto& p : parsed->parameters) {
    CHECK(is_upper_keyword(p.keyword), "keyword is an upper-case esmtp-keyword");
    if (p.value) {
      CHECK(!p.value->empty(), "values are not empty");
      CHECK(p.value->find_first_of(" =") == std::string::npos, "values hold no SP or =");
    }
  }
  if (parsed->address && !parsed->address->domain.empty()) {
    // The canonical form parses back to the same mailbox.
    auto again = parse_address(parsed->address->to_string());
    CHECK(again.ok(), "to_string() parses again");
    CHECK(again->key() == parsed->address->key(), "the key survives a round trip");
  } else if (parsed->address) {
    CHECK(parsed->address->local == "postmaster", "only <postmaster> has no domain");
  }
}

void check_bdat(std::string_view args) {
  auto cmd = parse_bdat(args);
  if (!cmd) return;
  CHECK(!args.empty() && args[0] >= '0' && args[0] <= '9', "BDAT size starts with a digit");
  auto again = parse_bdat(std::to_string(cmd->size) + (cmd->last ? " LAST" : ""));
  CHECK(again && again->size == cmd->size && again->last == cmd->last, "BDAT round trip");
}

void check_reply(const Reply& r, const CommandLine& cmd, const SessionState& state) {
  if (r.is<next::Authenticate>()) {
    // Not sent: the session verifies the credentials and answers itself.
    CHECK(state.listener.offers_auth && !state.sasl.mechanism.empty(), "credentials only in AUTH");
    return;
  }
  CHECK(r.code >= 200 && r.code <= 599, "reply code range");
  CHECK(!r.lines.empty(), "a reply has text");
  if (!r.enhanced.empty()) {
    CHECK(r.enhanced.size() >= 5 && r.enhanced[0] == static_cast<char>('0' + r.code / 100) && r.enhanced[1] == '.',
          "enhanced code class matches the reply code");
  }
  std::string wire = format(r);
  std::size_t crlfs = 0;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r') {
      CHECK(i + 1 < wire.size() && wire[i + 1] == '\n', "no bare CR in a reply");
      ++crlfs;
    } else if (wire[i] == '\n') {
      CHECK(i > 0 && wire[i - 1] == '\r', "no bare LF in a reply");
    }
  }
  CHECK(crlfs == r.lines.size(), "one CRLF per reply line");
  CHECK(wire.ends_with("\r\n"), "replies end in CRLF");
  if (r.is<next::ReadData>()) CHECK(r.code == 354 && cmd.verb == "DATA", "354 only for DATA");
  if (r.is<next::StartTls>()) CHECK(r.code == 220 && cmd.verb == "STARTTLS", "220 only for STARTTLS");
  if (r.is<next::Close>()) CHECK(r.code == 221 || r.code == 421, "close after 221/421");
  if (auto* chunk = std::get_if<next::ReadChunk>(&r.next)) {
    auto bdat = parse_bdat(cmd.args);
    CHECK(cmd.verb == "BDAT" && bdat, "chunks only after a valid BDAT");
    CHECK(bdat->size == chunk->size && bdat->last == chunk->last, "the chunk is the one announced");
  }
  if (r.is<next::SaslContinue>()) CHECK(r.code == 334 && state.listener.offers_auth, "334 only in AUTH");
  if (r.is<std::monostate>()) CHECK(r.code != 354 && r.code != 334, "354 and 334 must lead somewhere");
  if (!state.listener.offers_auth) {
    CHECK(state.auth_user.empty() && r.code != 334, "no AUTH on port 25");
    for (const auto& line : r.lines) CHECK(!line.starts_with("AUTH"), "AUTH never offered on port 25");
  } else if (state.phase == Phase::mail || state.phase == Phase::rcpt) {
    CHECK(state.tls && !state.auth_user.empty(), "submission transactions need TLS and AUTH");
  }
  CHECK(state.txn.recipients.size() <= world->config.smtpd.max_recipients, "recipient limit");
  CHECK((state.phase == Phase::rcpt) == !state.txn.recipients.empty(), "phase rcpt means recipients");
  if (state.phase == Phase::connected || state.phase == Phase::greeted) {
    CHECK(state.txn.recipients.empty() && state.txn.local.empty() && state.txn.remote.empty(), "no transaction");
  }
  if (cmd.verb == "MAIL" && r.code == 250) CHECK(state.phase == Phase::mail, "MAIL starts a transaction");
  // Issue 11 item 11: chunks belong to the transaction (CVE-2011-0411 class).
  if ((cmd.verb == "MAIL" || cmd.verb == "RSET" || cmd.verb == "HELO" || cmd.verb == "EHLO") && r.code == 250) {
    CHECK(!state.txn.chunks && !state.txn.bdat_started, "a new transaction has no chunks");
  }
  CHECK(!state.txn.chunks || state.phase == Phase::rcpt, "chunks only inside a transaction");
  if (cmd.verb == "RCPT" && r.code == 250) {
    CHECK(!state.txn.local.empty() || !state.txn.remote.empty(), "an accepted RCPT resolves to someone");
  }
}

// What the session does after authenticate: verify, answer 235 or 535.
Reply authenticate(SessionState& state, const next::Authenticate& credentials) {
  state.sasl = SaslExchange{};
  if (credentials.user == "alice@example.test" && credentials.password == "secret") {
    state.auth_user = credentials.user;
    return Reply(235, "2.7.0", "Authentication successful");
  }
  return Reply(535, "5.7.8", "Authentication credentials invalid");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool tls_available = (data[0] & 1) != 0;
  std::string_view script(reinterpret_cast<const char*>(data) + 1, size - 1);
  Services services{.config = world->config,
                    .store = *world->store,
                    .metrics = *world->metrics,
                    .tls_available = tls_available,
                    .spill_dir = temp_root};
  const ListenerPolicy listener = (data[0] & 2) != 0 ? submission_listener : mx_listener;
  SessionState state;
  state.listener = listener;
  state.peer = "192.0.2.1";
  bool in_sasl = false;  // the next line answers a 334

  while (!script.empty()) {
    auto lf = script.find('\n');
    std::string_view raw = script.substr(0, lf);
    script = lf == std::string_view::npos ? std::string_view() : script.substr(lf + 1);
    const bool had_lf = lf != std::string_view::npos;
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t octets = raw.size() + (had_lf ? 1 : 0);

    CommandLine cmd = split_command(line);
    check_split(line, cmd);
    check_path(cmd.args, "FROM:", true);
    check_path(cmd.args, "TO:", false);
    check_bdat(cmd.args);

    Reply r;
    if (in_sasl) {
      in_sasl = false;
      if (octets > 12288) {  // RFC 4954 §4: the session refuses longer responses
        state.sasl = SaslExchange{};
        continue;
      }
      r = handle_sasl_response(state, line);
      cmd = CommandLine{"AUTH", ""};
    } else {
      // The session answers longer lines with 500 without parsing them.
      if (octets > max_command_line) continue;
      r = handle_command(state, services, line);
    }
    check_reply(r, cmd, state);

    // What the session does next, without the bytes.
    if (r.is<next::Close>() || r.is<next::StartTls>()) {
      state = SessionState{};
      state.listener = listener;
      state.tls = r.is<next::StartTls>();
    } else if (r.is<next::ReadData>()) {
      state.reset_transaction();  // delivered or refused, the transaction ends
    } else if (auto* chunk = std::get_if<next::ReadChunk>(&r.next)) {
      if (r.code == 250 && chunk->last) {
        state.reset_transaction();
      } else if (r.code == 250) {
        if (!state.txn.chunks) state.txn.chunks = std::make_unique<MessageBuffer>(temp_root, 1 << 16);
        state.txn.chunks->append(line);
      }
    } else if (r.is<next::SaslContinue>()) {
      in_sasl = true;
    } else if (auto* credentials = std::get_if<next::Authenticate>(&r.next)) {
      check_reply(authenticate(state, *credentials), cmd, state);
    }
  }
  return 0;
}
