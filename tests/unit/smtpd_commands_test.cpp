// smtpd_commands_test.cpp - the SMTP command table on a port-25 session:
// labelled dialogues (command -> code, enhanced code, what the session must
// do next) against real Services on a temporary store; then the EHLO
// extension list, the transaction it builds, the metrics, Reply::is_error
// and format().
#include "smtpd/commands.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <ostream>
#include <string>
#include <vector>

#include "smtpd/message_buffer.hpp"
#include "smtpd/metrics.hpp"
#include "smtpd/reply.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::smtpd {
namespace {

using test::StoreTest;

std::string name(const Next& n) {
  if (std::holds_alternative<std::monostate>(n)) return "none";
  if (std::holds_alternative<next::ReadData>(n)) return "read_data";
  if (std::holds_alternative<next::ReadChunk>(n)) return "read_chunk";
  if (std::holds_alternative<next::StartTls>(n)) return "start_tls";
  if (std::holds_alternative<next::Close>(n)) return "close";
  return "Next(" + std::to_string(n.index()) + ")";
}

// A hosted world for port 25:
//   example.test: alice, bob, small (quota 1000), full (quota 50, full),
//                 δοκιμή (UTF-8 local part); team -> alice, bob;
//                 fwd -> friend@remote.test
//   catch.test:   catch-all -> alice@example.test
//   bücher.test:  anna (an IDN domain, stored as xn--bcher-kva.test)
//   mail.example.test (our hostname): postmaster -> alice@example.test
class CommandsTest : public StoreTest {
 protected:
  void SetUp() override {
    config_.hostname = "mail.example.test";
    config_.smtpd.max_message_size = 10000;
    config_.smtpd.max_recipients = 3;
    // One commit (one fsync) for the whole directory.
    write([](storage::WriteTxn& t) -> Status {
      using test::addr;
      for (const char* d : {"example.test", "catch.test", "xn--bcher-kva.test", "mail.example.test"}) {
        if (auto r = storage::add_domain(t, d); !r) return r;
      }
      const std::pair<const char*, std::uint64_t> users[] = {
          {"alice@example.test", 0}, {"bob@example.test", 0},  {"δοκιμή@example.test", 0},
          {"anna@xn--bcher-kva.test", 0}, {"small@example.test", 1000}, {"full@example.test", 50},
      };
      for (const auto& [user, quota] : users) {
        if (auto r = storage::add_user(t, addr(user), "$argon2id$test", quota); !r) return r.error();
      }
      const std::pair<const char*, std::vector<Address>> aliases[] = {
          {"team@example.test", {addr("alice@example.test"), addr("bob@example.test")}},
          {"fwd@example.test", {addr("friend@remote.test")}},
          {"@catch.test", {addr("alice@example.test")}},
          {"postmaster@mail.example.test", {addr("alice@example.test")}},
      };
      for (const auto& [source, targets] : aliases) {
        if (auto r = storage::add_alias(t, addr(source), targets); !r) return r;
      }
      std::uint64_t blob = storage::put_blob(t, std::string(50, 'x'));
      auto uid = storage::append_message(t, "full@example.test", blob, "", 0, storage::QuotaCheck::skip);
      if (!uid) return uid.error();
      return {};
    });
  }

  Services services(bool tls_available = false) {
    return Services{.config = config_,
                    .store = store(),
                    .metrics = metrics_,
                    .tls_available = tls_available,
                    .spill_dir = dir_.path(),
                    .authenticator = nullptr,
                    .relay_wakeup = {}};
  }

  double counter(const std::string& family, const std::string& label, const std::string& value) {
    for (const auto& f : registry_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        for (const auto& l : m.label) {
          if (l.name == label && l.value == value) return m.counter.value;
        }
      }
    }
    return -1;
  }

  Config config_;
  prometheus::Registry registry_;
  Metrics metrics_{registry_};
};

// Dialogues -----------------------------------------------------------------------

struct Step {
  std::string command;
  int code;
  std::string enhanced;
  Next next = {};
};

struct Dialogue {
  std::string label;
  std::vector<Step> steps;
  bool tls_available = false;
  bool tls = false;  // the session is already inside TLS
};
void PrintTo(const Dialogue& d, std::ostream* os) { *os << d.label; }

// Common steps.
const Step ehlo{"EHLO client.test", 250, ""};
const Step helo{"HELO client.test", 250, ""};
const Step mail{"MAIL FROM:<sender@remote.test>", 250, "2.1.0"};
const Step rcpt_alice{"RCPT TO:<alice@example.test>", 250, "2.1.5"};
const Step rcpt_bob{"RCPT TO:<bob@example.test>", 250, "2.1.5"};
const Step rcpt_small{"RCPT TO:<small@example.test>", 250, "2.1.5"};
const Step data_ok{"DATA", 354, "", next::ReadData{}};

Step rcpt(const std::string& address, int code, const std::string& enhanced) {
  return Step{"RCPT TO:<" + address + ">", code, enhanced};
}
Step rcpt_ok(const std::string& address) { return rcpt(address, 250, "2.1.5"); }
Step out_of_order(const std::string& command, Next next = {}) { return Step{command, 503, "5.5.1", next}; }
Step syntax_error(const std::string& command) { return Step{command, 501, "5.5.4"}; }
Step unknown(const std::string& command) { return Step{command, 500, "5.5.2"}; }
Step bad_parameter(const std::string& command) { return Step{command, 555, "5.5.4"}; }

const std::vector<Dialogue> dialogues = {
    // HELO / EHLO (RFC 5321 §4.1.1.1).
    {"ehlo", {ehlo}},
    {"helo", {helo}},
    {"ehlo_lower_case", {{"ehlo client.test", 250, ""}}},
    {"ehlo_address_literal", {{"EHLO [192.0.2.1]", 250, ""}}},
    {"ehlo_trailing_space", {{"EHLO client.test ", 250, ""}}},
    {"ehlo_without_domain", {syntax_error("EHLO")}},
    {"ehlo_only_space", {syntax_error("EHLO ")}},
    {"helo_without_domain", {syntax_error("HELO")}},
    {"ehlo_two_words", {syntax_error("EHLO client.test extra")}},
    // The HELO name ends up in the Received header: no control characters.
    {"ehlo_with_bare_cr", {syntax_error("EHLO client.test\rX-Injected:yes")}},
    {"helo_with_control_char", {syntax_error("HELO client\x01test")}},
    {"syntax_error_keeps_phase", {syntax_error("EHLO"), out_of_order("MAIL FROM:<sender@remote.test>"), ehlo, mail}},
    {"ehlo_again_resets_transaction",
     {ehlo, mail, rcpt_alice, ehlo, out_of_order("RCPT TO:<alice@example.test>"), out_of_order("DATA"), mail}},
    {"helo_again_resets_transaction", {ehlo, mail, helo, out_of_order("DATA"), mail}},
    {"helo_then_mail_parameters", {helo, bad_parameter("MAIL FROM:<sender@remote.test> SIZE=10"), mail}},
    {"ehlo_after_helo_allows_parameters", {helo, ehlo, {"MAIL FROM:<sender@remote.test> SIZE=10", 250, "2.1.0"}}},

    // Command sequence (§4.1.4): 503 5.5.1, and the state stays as it was.
    {"mail_before_helo", {out_of_order("MAIL FROM:<sender@remote.test>")}},
    {"rcpt_before_helo", {out_of_order("RCPT TO:<alice@example.test>")}},
    {"data_before_helo", {out_of_order("DATA")}},
    {"rcpt_before_mail", {ehlo, out_of_order("RCPT TO:<alice@example.test>")}},
    {"data_before_mail", {ehlo, out_of_order("DATA")}},
    {"data_before_rcpt", {ehlo, mail, out_of_order("DATA")}},
    {"nested_mail", {ehlo, mail, out_of_order("MAIL FROM:<other@remote.test>"), rcpt_alice}},
    {"mail_after_rcpt", {ehlo, mail, rcpt_alice, out_of_order("MAIL FROM:<other@remote.test>"), data_ok}},
    {"refused_rcpt_is_no_rcpt", {ehlo, mail, rcpt("nobody@example.test", 550, "5.1.1"), out_of_order("DATA")}},
    {"out_of_order_then_in_order", {out_of_order("MAIL FROM:<sender@remote.test>"), ehlo, mail, rcpt_alice, data_ok}},
    {"auth_before_helo", {out_of_order("AUTH PLAIN")}},
    // RFC 3030 §2: the chunk follows whatever the answer, so it is read.
    {"bdat_before_helo", {out_of_order("BDAT 5 LAST", next::ReadChunk{})}},
    {"bdat_before_mail", {ehlo, out_of_order("BDAT 5", next::ReadChunk{})}},
    {"bdat_before_rcpt", {ehlo, mail, out_of_order("BDAT 5 LAST", next::ReadChunk{})}},

    // Unknown commands: 500 5.5.2.
    {"unknown_verb", {unknown("FOO")}},
    {"unknown_verb_after_ehlo", {ehlo, unknown("XYZZY bar")}},
    {"empty_line", {unknown("")}},
    {"verb_glued_to_argument", {ehlo, unknown("MAILFROM:<sender@remote.test>")}},
    {"etrn_not_offered", {ehlo, unknown("ETRN example.test")}},
    {"nul_in_line", {unknown(std::string("NOOP\0x", 6))}},
    {"nul_in_argument", {ehlo, unknown(std::string("MAIL FROM:<a\0@remote.test>", 26))}},
    {"unknown_keeps_transaction", {ehlo, mail, rcpt_alice, unknown("XYZZY"), data_ok}},

    // Syntax errors: 501.
    {"mail_without_brackets", {ehlo, syntax_error("MAIL FROM:sender@remote.test")}},
    {"mail_with_to_prefix", {ehlo, syntax_error("MAIL TO:<sender@remote.test>")}},
    {"mail_without_argument", {ehlo, syntax_error("MAIL")}},
    {"mail_trailing_garbage", {ehlo, syntax_error("MAIL FROM:<sender@remote.test>garbage")}},
    {"mail_postmaster_without_domain", {ehlo, syntax_error("MAIL FROM:<postmaster>")}},
    {"mail_address_without_domain", {ehlo, syntax_error("MAIL FROM:<sender>")}},
    {"mail_bad_address", {ehlo, syntax_error("MAIL FROM:<a..b@remote.test>")}},
    {"mail_size_not_a_number", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> SIZE=ten")}},
    {"mail_size_negative", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> SIZE=-1")}},
    {"mail_size_empty", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> SIZE=")}},
    {"mail_bad_body", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> BODY=9BIT")}},
    {"mail_syntax_error_keeps_phase", {ehlo, syntax_error("MAIL FROM:sender@remote.test"), mail}},
    {"rcpt_null_path", {ehlo, mail, syntax_error("RCPT TO:<>")}},
    {"rcpt_without_domain", {ehlo, mail, syntax_error("RCPT TO:<alice>")}},
    {"rcpt_with_from_prefix", {ehlo, mail, syntax_error("RCPT FROM:<alice@example.test>")}},
    {"rcpt_missing_bracket", {ehlo, mail, syntax_error("RCPT TO:<alice@example.test")}},
    {"data_with_argument", {ehlo, mail, rcpt_alice, syntax_error("DATA now"), data_ok}},
    {"starttls_with_argument", {ehlo, syntax_error("STARTTLS now")}, true},
    {"bdat_size_not_a_number", {ehlo, mail, rcpt_alice, syntax_error("BDAT ten")}},
    {"bdat_without_size", {ehlo, mail, rcpt_alice, syntax_error("BDAT")}},
    {"bdat_bad_marker", {ehlo, mail, rcpt_alice, syntax_error("BDAT 5 FIRST")}},

    // Parameters nobody offered: 555 5.5.4.
    {"mail_unknown_parameter", {ehlo, bad_parameter("MAIL FROM:<sender@remote.test> FOO=bar")}},
    {"mail_dsn_not_offered", {ehlo, bad_parameter("MAIL FROM:<sender@remote.test> RET=HDRS")}},
    {"mail_auth_parameter_not_offered", {ehlo, bad_parameter("MAIL FROM:<sender@remote.test> AUTH=<>")}},
    {"mail_smtputf8_with_value", {ehlo, bad_parameter("MAIL FROM:<sender@remote.test> SMTPUTF8=yes")}},
    {"mail_known_then_unknown", {ehlo, bad_parameter("MAIL FROM:<sender@remote.test> SIZE=10 FOO"), mail}},
    {"rcpt_notify_not_offered", {ehlo, mail, bad_parameter("RCPT TO:<alice@example.test> NOTIFY=NEVER"), rcpt_alice}},

    // SIZE (RFC 1870).
    {"size_at_max", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=10000", 250, "2.1.0"}}},
    {"size_zero", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=0", 250, "2.1.0"}}},
    {"size_lower_case_keyword", {ehlo, {"MAIL FROM:<sender@remote.test> size=100", 250, "2.1.0"}}},
    {"size_over_max", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=10001", 552, "5.3.4"}, mail}},
    {"size_far_over_max", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=18446744073709551615", 552, "5.3.4"}}},
    // RFC 1870 §3: up to 20 digits is a size, even past 64 bits (issue 11 item 16).
    {"size_20_digits_over_64_bits", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=99999999999999999999", 552, "5.3.4"},
                                     mail}},
    {"size_20_digits_just_over_64_bits",
     {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=18446744073709551616", 552, "5.3.4"}}},
    {"size_20_digits_leading_zeros", {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=00000000000000000010", 250, "2.1.0"}}},
    {"size_21_digits", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> SIZE=000000000000000000010")}},
    {"size_with_a_letter", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> SIZE=1000x")}},

    // BODY (RFC 6152, RFC 3030).
    {"body_7bit", {ehlo, {"MAIL FROM:<sender@remote.test> BODY=7BIT", 250, "2.1.0"}, rcpt_alice, data_ok}},
    {"body_8bitmime", {ehlo, {"MAIL FROM:<sender@remote.test> BODY=8BITMIME", 250, "2.1.0"}, rcpt_alice, data_ok}},
    {"body_lower_case_value", {ehlo, {"MAIL FROM:<sender@remote.test> BODY=8bitmime", 250, "2.1.0"}}},
    // BINARYMIME is not offered (issue 11 item 18), so BODY=BINARYMIME is an unknown value.
    {"binarymime_not_offered", {ehlo, syntax_error("MAIL FROM:<sender@remote.test> BODY=BINARYMIME"), mail}},
    {"bdat_then_data_refused",
     {ehlo, mail, rcpt_alice, {"BDAT 5", 250, "2.0.0", next::ReadChunk{}}, out_of_order("DATA"),
      {"BDAT 0 LAST", 250, "2.0.0", next::ReadChunk{}}}},
    {"bdat_last_lower_case", {ehlo, mail, rcpt_alice, {"bdat 3 last", 250, "2.0.0", next::ReadChunk{}}}},

    // SMTPUTF8 (RFC 6531 §3.4): non-ASCII addresses need the parameter.
    {"utf8_sender_without_smtputf8", {ehlo, {"MAIL FROM:<δοκιμή@remote.test>", 553, "5.6.7"}, mail}},
    {"utf8_sender_with_smtputf8", {ehlo, {"MAIL FROM:<δοκιμή@remote.test> SMTPUTF8", 250, "2.1.0"}}},
    {"utf8_recipient_without_smtputf8", {ehlo, mail, rcpt("δοκιμή@example.test", 553, "5.6.7"), rcpt_alice}},
    {"utf8_recipient_with_smtputf8",
     {ehlo, {"MAIL FROM:<sender@remote.test> SMTPUTF8", 250, "2.1.0"}, rcpt_ok("δοκιμή@example.test")}},
    {"utf8_domain_sender_without_smtputf8", {ehlo, {"MAIL FROM:<a@bücher.test>", 553, "5.6.7"}}},
    {"utf8_domain_recipient_without_smtputf8", {ehlo, mail, rcpt("anna@bücher.test", 553, "5.6.7")}},
    {"utf8_domain_recipient_with_smtputf8",
     {ehlo, {"MAIL FROM:<sender@remote.test> SMTPUTF8", 250, "2.1.0"}, rcpt_ok("anna@bücher.test")}},
    {"a_label_recipient_without_smtputf8", {ehlo, mail, rcpt_ok("anna@xn--bcher-kva.test")}},

    // RCPT on port 25 (SPEC.md SMTP).
    {"rcpt_local_user", {ehlo, mail, rcpt_alice, data_ok}},
    {"rcpt_case_insensitive", {ehlo, mail, rcpt_ok("ALICE@Example.TEST")}},
    {"rcpt_space_after_colon", {ehlo, mail, {"RCPT TO: <alice@example.test>", 250, "2.1.5"}}},
    {"rcpt_source_route", {ehlo, mail, rcpt_ok("@relay.test:alice@example.test")}},
    {"rcpt_quoted_local_part", {ehlo, mail, rcpt_ok("\"alice\"@example.test")}},
    {"rcpt_unknown_user", {ehlo, mail, rcpt("nobody@example.test", 550, "5.1.1"), rcpt_alice}},
    {"rcpt_unknown_plus_base", {ehlo, mail, rcpt("nobody+tag@example.test", 550, "5.1.1")}},
    {"rcpt_unknown_in_other_domain", {ehlo, mail, rcpt("alice@xn--bcher-kva.test", 550, "5.1.1")}},
    {"rcpt_over_quota", {ehlo, mail, rcpt("full@example.test", 552, "5.2.2"), rcpt_alice}},
    {"rcpt_declared_size_over_quota",
     {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=1001", 250, "2.1.0"}, rcpt("small@example.test", 552, "5.2.2"),
      rcpt_alice}},
    {"rcpt_declared_size_fills_quota",
     {ehlo, {"MAIL FROM:<sender@remote.test> SIZE=1000", 250, "2.1.0"}, rcpt_small}},
    {"rcpt_not_hosted", {ehlo, mail, rcpt("bob@remote.test", 554, "5.7.1"), rcpt_alice}},
    {"rcpt_subdomain_not_hosted", {ehlo, mail, rcpt("alice@sub.example.test", 554, "5.7.1")}},
    {"rcpt_address_literal_not_hosted", {ehlo, mail, rcpt("alice@[192.0.2.1]", 554, "5.7.1")}},
    {"rcpt_too_many", {ehlo, mail, rcpt_alice, rcpt_bob, rcpt_small, rcpt("team@example.test", 452, "4.5.3"), data_ok}},
    {"rcpt_refused_do_not_count",
     {ehlo, mail, rcpt("nobody@example.test", 550, "5.1.1"), rcpt("x@remote.test", 554, "5.7.1"),
      rcpt("full@example.test", 552, "5.2.2"), rcpt_alice, rcpt_bob, rcpt_small,
      rcpt("team@example.test", 452, "4.5.3")}},
    {"rcpt_limit_is_per_transaction",
     {ehlo, mail, rcpt_alice, rcpt_bob, rcpt_small, {"RSET", 250, "2.0.0"}, mail, rcpt_alice, rcpt_bob, rcpt_small}},
    {"rcpt_alias", {ehlo, mail, rcpt_ok("team@example.test"), data_ok}},
    {"rcpt_alias_to_remote", {ehlo, mail, rcpt_ok("fwd@example.test")}},
    {"rcpt_catch_all", {ehlo, mail, rcpt_ok("anything@catch.test")}},
    {"rcpt_plus_address", {ehlo, mail, rcpt_ok("alice+news@example.test")}},
    {"rcpt_plus_on_alias", {ehlo, mail, rcpt_ok("team+x@example.test")}},
    {"rcpt_postmaster_without_domain", {ehlo, mail, rcpt_ok("Postmaster")}},
    {"null_sender", {ehlo, {"MAIL FROM:<>", 250, "2.1.0"}, rcpt_alice, data_ok}},
    {"null_sender_with_space", {ehlo, {"MAIL FROM: <>", 250, "2.1.0"}}},
    {"sender_in_hosted_domain", {ehlo, {"MAIL FROM:<alice@example.test>", 250, "2.1.0"}}},

    // RSET, NOOP, QUIT, VRFY, EXPN, HELP.
    {"rset_ends_transaction",
     {ehlo, mail, rcpt_alice, {"RSET", 250, "2.0.0"}, out_of_order("RCPT TO:<alice@example.test>"),
      out_of_order("DATA"), mail}},
    {"rset_before_helo", {{"RSET", 250, "2.0.0"}, out_of_order("MAIL FROM:<sender@remote.test>")}},
    {"noop_every_phase",
     {{"NOOP", 250, "2.0.0"}, ehlo, {"NOOP", 250, "2.0.0"}, mail, {"NOOP", 250, "2.0.0"}, rcpt_alice,
      {"NOOP hello", 250, "2.0.0"}, data_ok}},
    {"quit_before_helo", {{"QUIT", 221, "2.0.0", next::Close{}}}},
    {"quit_in_transaction", {ehlo, mail, rcpt_alice, {"quit", 221, "2.0.0", next::Close{}}}},
    {"vrfy_not_disclosed", {{"VRFY alice", 252, "2.5.2"}, ehlo, {"VRFY alice@example.test", 252, "2.5.2"}}},
    {"expn_not_implemented", {ehlo, {"EXPN team", 502, "5.5.1"}}},
    {"help", {{"HELP", 214, "2.0.0"}, ehlo, {"HELP MAIL", 214, "2.0.0"}}},

    // STARTTLS (RFC 3207) and AUTH (not on port 25).
    {"starttls_offered", {ehlo, {"STARTTLS", 220, "2.0.0", next::StartTls{}}}, true},
    {"starttls_lower_case", {ehlo, {"starttls", 220, "2.0.0", next::StartTls{}}}, true},
    {"starttls_not_configured", {ehlo, {"STARTTLS", 502, "5.5.1"}, mail}},
    {"starttls_inside_tls", {ehlo, out_of_order("STARTTLS"), mail}, true, true},
    {"auth_not_enabled", {ehlo, out_of_order("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), out_of_order("AUTH LOGIN"), mail}},
    {"auth_not_enabled_inside_tls", {ehlo, out_of_order("AUTH PLAIN"), mail}, true, true},

    // DATA and BDAT hand over to the session.
    {"data_go_ahead", {ehlo, mail, rcpt_alice, data_ok}},
    {"bdat_chunks", {ehlo, mail, rcpt_alice, {"BDAT 100", 250, "2.0.0", next::ReadChunk{}},
                     {"BDAT 0 LAST", 250, "2.0.0", next::ReadChunk{}}}},
};

class CommandDialogue : public CommandsTest, public testing::WithParamInterface<Dialogue> {};

TEST_P(CommandDialogue, Replies) {
  const Dialogue& d = GetParam();
  Services svc = services(d.tls_available);
  SessionState state;
  state.peer = "192.0.2.7";
  state.tls = d.tls;
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const Step& step = d.steps[i];
    Reply r = handle_command(state, svc, step.command);
    std::string where = "step " + std::to_string(i) + ": " + step.command + " -> " + format(r);
    EXPECT_EQ(r.code, step.code) << where;
    EXPECT_EQ(r.enhanced, step.enhanced) << where;
    EXPECT_EQ(name(r.next), name(step.next)) << where;
    EXPECT_FALSE(r.lines.empty()) << where;
    // A 452 for a recipient past the limit is not the client's fault (RFC 5321 §4.5.3.1.10).
    bool excess_recipient = step.code == 452 && step.enhanced == "4.5.3";
    EXPECT_EQ(r.is_error(), step.code >= 400 && step.code != 421 && !excess_recipient) << where;
  }
}

INSTANTIATE_TEST_SUITE_P(Smtpd, CommandDialogue, testing::ValuesIn(dialogues),
                         [](const testing::TestParamInfo<Dialogue>& info) { return info.param.label; });

// EHLO extensions -------------------------------------------------------------------

struct EhloCase {
  std::string label;
  bool tls_available;
  bool tls;
  bool starttls_listed;
};
void PrintTo(const EhloCase& c, std::ostream* os) { *os << c.label; }

const std::vector<EhloCase> ehlo_cases = {
    {"no_tls_configured", false, false, false},
    {"tls_configured_plaintext", true, false, true},
    {"tls_configured_inside_tls", true, true, false},
};

class EhloExtensions : public CommandsTest, public testing::WithParamInterface<EhloCase> {};

TEST_P(EhloExtensions, AreListedInOrder) {
  const EhloCase& c = GetParam();
  Services svc = services(c.tls_available);
  SessionState state;
  state.tls = c.tls;
  Reply r = handle_command(state, svc, "EHLO client.test");
  ASSERT_EQ(r.code, 250);
  EXPECT_EQ(r.enhanced, "");
  std::vector<std::string> expected = {"mail.example.test Hello client.test", "PIPELINING", "SIZE 10000", "8BITMIME",
                                       "SMTPUTF8", "ENHANCEDSTATUSCODES"};
  if (c.starttls_listed) expected.push_back("STARTTLS");
  expected.push_back("CHUNKING");  // and no BINARYMIME (issue 11 item 18)
  EXPECT_EQ(r.lines, expected);
  for (const auto& line : r.lines) EXPECT_FALSE(line.starts_with("AUTH")) << "no AUTH on port 25";
  EXPECT_EQ(state.phase, Phase::greeted);
  EXPECT_TRUE(state.esmtp);
  EXPECT_EQ(state.helo, "client.test");
}

INSTANTIATE_TEST_SUITE_P(Smtpd, EhloExtensions, testing::ValuesIn(ehlo_cases),
                         [](const testing::TestParamInfo<EhloCase>& info) { return info.param.label; });

TEST_F(CommandsTest, EhloSizeFollowsTheConfiguration) {
  config_.smtpd.max_message_size = 35ull << 20;
  Services svc = services();
  SessionState state;
  Reply r = handle_command(state, svc, "EHLO client.test");
  EXPECT_NE(format(r).find("250-SIZE 36700160\r\n"), std::string::npos) << format(r);
}

TEST_F(CommandsTest, EhloFormatsAsMultiline) {
  Services svc = services(true);
  SessionState state;
  EXPECT_EQ(format(handle_command(state, svc, "EHLO client.test")),
            "250-mail.example.test Hello client.test\r\n"
            "250-PIPELINING\r\n"
            "250-SIZE 10000\r\n"
            "250-8BITMIME\r\n"
            "250-SMTPUTF8\r\n"
            "250-ENHANCEDSTATUSCODES\r\n"
            "250-STARTTLS\r\n"
            "250 CHUNKING\r\n");
}

TEST_F(CommandsTest, HeloIsOneLineAndNotEsmtp) {
  Services svc = services(true);
  SessionState state;
  Reply r = handle_command(state, svc, "HELO client.test");
  EXPECT_EQ(format(r), "250 mail.example.test\r\n");
  EXPECT_FALSE(state.esmtp);
  EXPECT_EQ(state.phase, Phase::greeted);
}

TEST_F(CommandsTest, Greeting) {
  Reply r = greeting(services());
  EXPECT_EQ(format(r), "220 mail.example.test ESMTP Aviary\r\n");
  EXPECT_FALSE(r.is_error());
}

TEST_F(CommandsTest, QuitNamesTheHost) {
  Services svc = services();
  SessionState state;
  EXPECT_EQ(format(handle_command(state, svc, "QUIT")), "221 2.0.0 mail.example.test closing connection\r\n");
}

// What MAIL and RCPT leave in the transaction --------------------------------------

TEST_F(CommandsTest, MailRecordsTheEnvelope) {
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<Sender@Remote.TEST> SIZE=1234 BODY=8BITMIME SMTPUTF8").code, 250);
  EXPECT_EQ(state.phase, Phase::mail);
  EXPECT_EQ(state.txn.sender, "Sender@remote.test");
  EXPECT_EQ(state.txn.declared_size, 1234u);
  EXPECT_EQ(state.txn.body, BodyType::eight_bit_mime);
  EXPECT_TRUE(state.txn.smtputf8);

  ASSERT_EQ(handle_command(state, svc, "RSET").code, 250);
  EXPECT_EQ(state.phase, Phase::greeted);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<>").code, 250);
  EXPECT_EQ(state.txn.sender, "");
  EXPECT_FALSE(state.txn.declared_size.has_value());
  EXPECT_EQ(state.txn.body, BodyType::seven_bit);
  EXPECT_FALSE(state.txn.smtputf8);
}

// Issue 11 item 14: up to 1000 recipients past max_recipients (3 here) get
// 452 without counting as errors (Postfix's smtpd_recipient_overshoot_limit);
// past that each one counts. The next transaction starts at zero again.
TEST_F(CommandsTest, ExcessRecipientsAreNotErrorsUpToTheOvershoot) {
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
    for (const char* r : {"alice", "bob", "small"}) {
      ASSERT_EQ(handle_command(state, svc, std::string("RCPT TO:<") + r + "@example.test>").code, 250);
    }
    for (int i = 0; i < 1000; ++i) {
      Reply r = handle_command(state, svc, "RCPT TO:<team@example.test>");
      ASSERT_EQ(r.code, 452) << i;
      ASSERT_EQ(r.enhanced, "4.5.3");
      ASSERT_FALSE(r.is_error()) << "excess recipient " << i + 1;
    }
    Reply r = handle_command(state, svc, "RCPT TO:<team@example.test>");
    EXPECT_EQ(r.code, 452);
    EXPECT_TRUE(r.is_error()) << "past the overshoot";
    EXPECT_EQ(state.txn.recipients.size(), 3u);
    ASSERT_EQ(handle_command(state, svc, "RSET").code, 250);
  }
}

// Issue 11 item 13: NOOP, RSET, VRFY, EXPN and HELP count against
// smtpd.junk_command_limit; one more is 421 and the end of the session.
TEST_F(CommandsTest, JunkCommandLimit) {
  config_.smtpd.junk_command_limit = 5;
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  for (const char* junk : {"NOOP", "RSET", "VRFY alice", "EXPN team", "HELP"}) {
    Reply r = handle_command(state, svc, junk);
    EXPECT_NE(r.code, 421) << junk;
    // Other commands do not count.
    EXPECT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
    EXPECT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
  }
  EXPECT_EQ(state.junk_commands, 5u);
  Reply r = handle_command(state, svc, "noop");
  EXPECT_EQ(format(r), "421 4.7.0 mail.example.test Error: too many junk commands\r\n");
  EXPECT_EQ(name(r.next), "close");
}

TEST_F(CommandsTest, JunkCommandLimitDefaultsTo100) {
  Services svc = services();
  SessionState state;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(handle_command(state, svc, "NOOP").code, 250) << i;
  EXPECT_EQ(handle_command(state, svc, "NOOP").code, 421);
}

// Issue 11 item 11: BDAT chunks belong to the transaction. Whatever ends it
// (RSET, HELO, EHLO, a new MAIL) throws the chunks away, so that they can
// never be put in front of the next message. (STARTTLS replaces the whole
// SessionState: the session test covers it.)
TEST_F(CommandsTest, ChunksDieWithTheTransaction) {
  Services svc = services();
  for (const char* ender : {"RSET", "EHLO again.test", "HELO again.test", "MAIL FROM:<other@remote.test>"}) {
    SCOPED_TRACE(ender);
    SessionState state;
    ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
    ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
    ASSERT_EQ(handle_command(state, svc, "RCPT TO:<alice@example.test>").code, 250);
    ASSERT_TRUE(handle_command(state, svc, "BDAT 50").is<next::ReadChunk>());
    // What the session does with the chunk.
    state.txn.chunks = std::make_unique<MessageBuffer>(dir_.path(), 1024);
    state.txn.chunks->append("X-Injected: yes\r\n");
    state.txn.line_check.feed("X-Injected: yes\r");
    state.txn.chunk_overflow = true;
    if (std::string_view(ender).starts_with("MAIL")) {
      // MAIL is only allowed between transactions: the chunks of a failed one
      // may still be there.
      state.phase = Phase::greeted;
    }
    ASSERT_EQ(handle_command(state, svc, ender).code, 250);
    EXPECT_EQ(state.txn.chunks, nullptr);
    EXPECT_FALSE(state.txn.chunk_overflow);
    EXPECT_TRUE(state.txn.line_check.ok_at_end());
    EXPECT_FALSE(state.txn.bdat_started);
  }
}

// A session on the submission listener, inside TLS, authenticated as alice.
SessionState submission_state() {
  SessionState state;
  state.listener = submission_listener;
  state.tls = true;
  state.auth_user = "alice@example.test";
  return state;
}

// Issue 11 item 19: "@catch.test -> alice" delivers anything@catch.test to
// alice, but does not make it hers to send as.
TEST_F(CommandsTest, SubmissionSenderIgnoresTheCatchAll) {
  Services svc = services();
  SessionState state = submission_state();
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  Reply r = handle_command(state, svc, "MAIL FROM:<ceo@catch.test>");
  EXPECT_EQ(r.code, 553);
  EXPECT_EQ(r.enhanced, "5.7.1");
  EXPECT_EQ(handle_command(state, svc, "MAIL FROM:<ceo+x@catch.test>").code, 553);
  // Her own address and an alias to her still are hers.
  EXPECT_EQ(handle_command(state, svc, "MAIL FROM:<postmaster@mail.example.test>").code, 250);
  ASSERT_EQ(handle_command(state, svc, "RSET").code, 250);
  EXPECT_EQ(handle_command(state, svc, "MAIL FROM:<alice+news@example.test>").code, 250);
}

// Issue 11 item 28: a domain literal goes straight to that address, past the
// smarthost and the routes; submission refuses it unless a route names it.
TEST_F(CommandsTest, SubmissionRefusesUnroutedDomainLiterals) {
  config_.relay.routes["[192.0.2.9]"] = Endpoint{"127.0.0.1", 2626};
  config_.relay.routes["[ipv6:2001:db8::9]"] = Endpoint{"127.0.0.1", 2627};
  Services svc = services();
  SessionState state = submission_state();
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<alice@example.test>").code, 250);
  for (const char* literal : {"root@[10.0.0.1]", "x@[127.0.0.1]", "x@[IPv6:::1]", "x@[192.0.2.10]"}) {
    Reply r = handle_command(state, svc, std::string("RCPT TO:<") + literal + ">");
    EXPECT_EQ(r.code, 550) << literal;
    EXPECT_EQ(r.enhanced, "5.7.1") << literal;
  }
  EXPECT_EQ(handle_command(state, svc, "RCPT TO:<x@[192.0.2.9]>").code, 250);
  EXPECT_EQ(handle_command(state, svc, "RCPT TO:<x@[IPv6:2001:DB8::9]>").code, 250);
  EXPECT_EQ(handle_command(state, svc, "RCPT TO:<someone@remote.test>").code, 250);
  EXPECT_EQ(state.txn.remote.size(), 3u);
}

TEST_F(CommandsTest, RefusedMailLeavesNoTransaction) {
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  EXPECT_EQ(handle_command(state, svc, "MAIL FROM:<a@remote.test> SIZE=99999").code, 552);
  EXPECT_EQ(state.phase, Phase::greeted);
  EXPECT_EQ(state.txn.sender, "");
}

struct ResolveCase {
  std::string label;
  std::vector<std::string> recipients;  // each must be accepted
  std::vector<std::string> local;
  std::vector<std::string> remote;
  std::vector<std::string> accepted;  // Transaction::recipients
};
void PrintTo(const ResolveCase& c, std::ostream* os) { *os << c.label; }

const std::vector<ResolveCase> resolve_cases = {
    {"user", {"alice@example.test"}, {"alice@example.test"}, {}, {"alice@example.test"}},
    {"user_case_folded", {"ALICE@EXAMPLE.TEST"}, {"alice@example.test"}, {}, {"ALICE@example.test"}},
    {"alias", {"team@example.test"}, {"alice@example.test", "bob@example.test"}, {}, {"team@example.test"}},
    {"alias_to_remote", {"fwd@example.test"}, {}, {"friend@remote.test"}, {"fwd@example.test"}},
    {"catch_all", {"who@catch.test"}, {"alice@example.test"}, {}, {"who@catch.test"}},
    {"plus", {"alice+tag@example.test"}, {"alice@example.test"}, {}, {"alice+tag@example.test"}},
    {"postmaster", {"Postmaster"}, {"alice@example.test"}, {}, {"postmaster@mail.example.test"}},
    {"deduplicated",
     {"alice@example.test", "team@example.test", "alice+x@example.test", "x@catch.test"},
     {"alice@example.test", "bob@example.test"},
     {},
     {"alice@example.test", "team@example.test", "alice+x@example.test", "x@catch.test"}},
    {"mixed", {"fwd@example.test", "bob@example.test"}, {"bob@example.test"}, {"friend@remote.test"},
     {"fwd@example.test", "bob@example.test"}},
};

class RcptResolution : public CommandsTest, public testing::WithParamInterface<ResolveCase> {};

TEST_P(RcptResolution, FillsTheTransaction) {
  const ResolveCase& c = GetParam();
  config_.smtpd.max_recipients = 10;
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
  for (const auto& r : c.recipients) {
    Reply reply = handle_command(state, svc, "RCPT TO:<" + r + ">");
    ASSERT_EQ(reply.code, 250) << r << ": " << format(reply);
  }
  EXPECT_EQ(state.phase, Phase::rcpt);
  EXPECT_EQ(state.txn.local, c.local);
  EXPECT_EQ(state.txn.remote, c.remote);
  // Each accepted RCPT is listed, in order (for logs and Received "for").
  EXPECT_EQ(state.txn.recipients, c.accepted);
}

INSTANTIATE_TEST_SUITE_P(Smtpd, RcptResolution, testing::ValuesIn(resolve_cases),
                         [](const testing::TestParamInfo<ResolveCase>& info) { return info.param.label; });

// RFC 5321 §4.5.1: "RCPT TO:<Postmaster>" MUST be accepted, whether or not the
// host name is itself one of the hosted domains (SPEC.md's own example has
// hostname mail.example.org hosting example.org).
TEST_F(CommandsTest, PostmasterWithoutDomainAcceptedWhenHostnameIsNotHosted) {
  config_.hostname = "mx.not-hosted.test";
  add_alias("postmaster@example.test", {"alice@example.test"});
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
  Reply r = handle_command(state, svc, "RCPT TO:<Postmaster>");
  EXPECT_EQ(r.code, 250) << format(r);
}

// A reply never echoes a client's bare CR (or LF) back onto the wire: the
// session only strips the CR before the LF, so "EHLO a\rb" reaches the table
// with its CR. (The fuzzer checks the same for every command.)
struct EchoCase {
  std::string label;
  std::vector<std::string> before;  // set-up commands
  std::string line;
};
void PrintTo(const EchoCase& c, std::ostream* os) { *os << c.label; }

const std::vector<EchoCase> echo_cases = {
    {"ehlo_name", {}, "EHLO a\rb"},
    {"helo_name", {}, "HELO a\rb"},
    {"mail_bad_parameter", {"EHLO client.test"}, "MAIL FROM:<sender@remote.test> X\rY"},
    {"mail_bad_parameter_value", {"EHLO client.test"}, "MAIL FROM:<sender@remote.test> X=\r"},
    {"mail_bad_address", {"EHLO client.test"}, "MAIL FROM:<a\r@remote.test>"},
    {"rcpt_bad_parameter", {"EHLO client.test", "MAIL FROM:<sender@remote.test>"}, "RCPT TO:<alice@example.test> X\rY"},
    {"unknown_verb", {}, "FO\rO bar"},
};

class ReplyEcho : public CommandsTest, public testing::WithParamInterface<EchoCase> {};

TEST_P(ReplyEcho, NoBareCrOrLfInReplies) {
  const EchoCase& c = GetParam();
  Services svc = services();
  SessionState state;
  for (const auto& line : c.before) ASSERT_LT(handle_command(state, svc, line).code, 400) << line;
  std::string wire = format(handle_command(state, svc, c.line));
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r') {
      EXPECT_TRUE(i + 1 < wire.size() && wire[i + 1] == '\n') << "bare CR at " << i << ": " << wire;
    } else if (wire[i] == '\n') {
      EXPECT_TRUE(i > 0 && wire[i - 1] == '\r') << "bare LF at " << i << ": " << wire;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Smtpd, ReplyEcho, testing::ValuesIn(echo_cases),
                         [](const testing::TestParamInfo<EchoCase>& info) { return info.param.label; });

TEST_F(CommandsTest, RecipientMetrics) {
  Services svc = services();
  SessionState state;
  ASSERT_EQ(handle_command(state, svc, "EHLO client.test").code, 250);
  ASSERT_EQ(handle_command(state, svc, "MAIL FROM:<sender@remote.test>").code, 250);
  for (const char* r : {"alice@example.test", "fwd@example.test", "nobody@example.test", "x@remote.test",
                        "full@example.test", "team@example.test"}) {
    handle_command(state, svc, std::string("RCPT TO:<") + r + ">");
  }
  EXPECT_EQ(counter("aviary_smtpd_recipients_total", "disposition", "local"), 2);
  EXPECT_EQ(counter("aviary_smtpd_recipients_total", "disposition", "relay"), 1);
  EXPECT_EQ(counter("aviary_smtpd_recipients_total", "disposition", "rejected"), 3);
}

// Reply -----------------------------------------------------------------------------

struct ErrorCase {
  int code;
  bool error;
};

TEST(SmtpdReply, IsErrorCountsClientMistakesOnly) {
  const std::vector<ErrorCase> cases = {
      {220, false}, {221, false}, {250, false}, {252, false}, {214, false}, {354, false}, {421, false},
      {450, true},  {451, true},  {452, true},  {500, true},  {501, true},  {503, true},  {550, true},
      {552, true},  {553, true},  {554, true},  {555, true},
  };
  for (const auto& c : cases) EXPECT_EQ(Reply(c.code, "", "x").is_error(), c.error) << c.code;
}

struct FormatCase {
  std::string label;
  Reply reply;
  std::string wire;
};

Reply multiline(int code, std::string enhanced, std::vector<std::string> lines) {
  Reply r(code, std::move(enhanced), "");
  r.lines = std::move(lines);
  return r;
}

TEST(SmtpdReply, Format) {
  const std::vector<FormatCase> cases = {
      {"single_with_enhanced", Reply(250, "2.1.0", "Ok"), "250 2.1.0 Ok\r\n"},
      {"single_without_enhanced", Reply(220, "", "mail.example.test ESMTP"), "220 mail.example.test ESMTP\r\n"},
      {"go_ahead", Reply(354, "", "End data with <CR><LF>.<CR><LF>"), "354 End data with <CR><LF>.<CR><LF>\r\n"},
      {"error", Reply(550, "5.1.1", "<a@b>: User unknown"), "550 5.1.1 <a@b>: User unknown\r\n"},
      {"multiline_enhanced_on_every_line", multiline(250, "2.0.0", {"one", "two", "three"}),
       "250-2.0.0 one\r\n250-2.0.0 two\r\n250 2.0.0 three\r\n"},
      {"multiline_without_enhanced", multiline(250, "", {"host", "PIPELINING"}), "250-host\r\n250 PIPELINING\r\n"},
      {"two_lines", multiline(421, "4.7.0", {"a", "b"}), "421-4.7.0 a\r\n421 4.7.0 b\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(format(c.reply), c.wire) << c.label;
}

}  // namespace
}  // namespace aviary::smtpd
