// pop3d_commands_test.cpp - the POP3 command tables: every command in each
// state (RFC 1939 §4-§7), its arguments and errors, CAPA and the response
// codes (RFC 2449), STLS (RFC 2595) and AUTH PLAIN (RFC 5034), as labelled
// dialogues (command -> the reply on the wire, what the session must do
// next, whether it counts toward pop3d.max_errors) against a real maildrop
// on a temporary store; then what the session is handed for its I/O.
#include "pop3d/commands.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "pop3d/maildrop.hpp"
#include "pop3d/reply.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::pop3d {
namespace {

using test::StoreTest;

std::string name(const Next& n) {
  if (std::holds_alternative<std::monostate>(n)) return "none";
  if (std::holds_alternative<next::Authenticate>(n)) return "authenticate";
  if (std::holds_alternative<next::SaslContinue>(n)) return "sasl_continue";
  if (std::holds_alternative<next::StartTls>(n)) return "start_tls";
  if (std::holds_alternative<next::SendMessage>(n)) return "send_message";
  if (std::holds_alternative<next::Update>(n)) return "update";
  if (std::holds_alternative<next::Close>(n)) return "close";
  return "Next(" + std::to_string(n.index()) + ")";
}

struct Step {
  std::string command;
  std::string wire;  // format(reply)
  std::string next = "none";
  bool bad = false;  // counts toward pop3d.max_errors
};

enum class Start { clear, clear_tls_offered, clear_plaintext_allowed, inside_tls, logged_in };

struct Dialogue {
  std::string label;
  Start start;
  std::vector<Step> steps;
};
void PrintTo(const Dialogue& d, std::ostream* os) { *os << d.label; }

const std::string plaintext_refused =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (TLS) connections\r\n";
const std::string ok = "+OK\r\n";

// The CAPA list, with what a state or a session adds in the middle.
std::string capa(const std::string& extra) {
  return "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n" + extra +
         "IMPLEMENTATION Aviary\r\n.\r\n";
}

Step bad(const std::string& command, const std::string& text) {
  return {command, "-ERR " + text + "\r\n", "none", true};
}
Step refused(const std::string& command, const std::string& text) { return {command, "-ERR " + text + "\r\n"}; }

// alice's maildrop when logged in: three messages of 100, 200 and 300 octets.
const std::vector<Dialogue> dialogues = {
    // AUTHORIZATION: CAPA (RFC 2449 §5) says what this state offers.
    {"capa_in_the_clear", Start::clear_tls_offered, {{"CAPA", capa("STLS\r\n")}}},
    {"capa_without_tls_configured", Start::clear, {{"capa", capa("")}}},
    {"capa_inside_tls", Start::inside_tls, {{"CAPA", capa("USER\r\nSASL PLAIN\r\n")}}},
    {"capa_plaintext_allowed", Start::clear_plaintext_allowed, {{"CAPA", capa("USER\r\nSASL PLAIN\r\nSTLS\r\n")}}},

    // RFC 2595 §2: no password in the clear unless allowed; refused, not a
    // syntax error.
    {"user_in_the_clear", Start::clear_tls_offered, {{"USER alice", plaintext_refused}}},
    {"pass_in_the_clear", Start::clear_tls_offered, {{"PASS secret", plaintext_refused}}},
    {"auth_in_the_clear", Start::clear_tls_offered, {{"AUTH PLAIN AGFsaWNlAHNlY3JldA==", plaintext_refused}}},
    {"auth_list_in_the_clear_is_empty", Start::clear_tls_offered, {{"AUTH", "+OK\r\n.\r\n"}}},
    {"plaintext_allowed", Start::clear_plaintext_allowed,
     {{"USER alice@example.test", ok}, {"PASS secret", ok, "authenticate"}}},

    // USER and PASS (RFC 1939 §7).
    {"user_pass", Start::inside_tls, {{"USER alice@example.test", ok}, {"PASS secret", ok, "authenticate"}}},
    {"user_without_name", Start::inside_tls, {bad("USER", "Syntax: USER name")}},
    {"pass_without_user", Start::inside_tls, {refused("PASS secret", "No user name given: USER first")}},
    {"pass_uses_the_user_up", Start::inside_tls,
     {{"USER alice@example.test", ok}, {"PASS wrong", ok, "authenticate"},
      refused("PASS secret", "No user name given: USER first")}},
    {"user_again_replaces_the_name", Start::inside_tls,
     {{"USER bob@example.test", ok}, {"USER alice@example.test", ok}, {"PASS secret", ok, "authenticate"}}},

    // AUTH (RFC 5034).
    {"auth_lists_mechanisms", Start::inside_tls, {{"AUTH", "+OK\r\nPLAIN\r\n.\r\n"}}},
    {"auth_plain_initial_response", Start::inside_tls, {{"AUTH PLAIN AGFsaWNlAHNlY3JldA==", ok, "authenticate"}}},
    {"auth_plain_continued", Start::inside_tls, {{"AUTH PLAIN", ok, "sasl_continue"}}},
    {"auth_mechanism_case_insensitive", Start::inside_tls, {{"auth plain", ok, "sasl_continue"}}},
    {"auth_unsupported_mechanism", Start::inside_tls,
     {refused("AUTH LOGIN", "Unsupported authentication mechanism LOGIN")}},
    {"auth_bad_base64", Start::inside_tls,
     {{"AUTH PLAIN !!!!", "-ERR [AUTH] Invalid SASL PLAIN response\r\n", "none", true}}},
    {"auth_empty_initial_response", Start::inside_tls,
     {{"AUTH PLAIN =", "-ERR [AUTH] Invalid SASL PLAIN response\r\n", "none", true}}},

    // STLS (RFC 2595 §4).
    {"stls", Start::clear_tls_offered, {{"STLS", "+OK Begin TLS negotiation\r\n", "start_tls"}}},
    {"stls_lower_case", Start::clear_tls_offered, {{"stls", "+OK Begin TLS negotiation\r\n", "start_tls"}}},
    {"stls_with_argument", Start::clear_tls_offered, {bad("STLS now", "Syntax: STLS")}},
    {"stls_not_configured", Start::clear, {refused("STLS", "STLS is not available")}},
    {"stls_inside_tls", Start::inside_tls, {refused("STLS", "TLS is already active")}},

    {"quit_before_login", Start::clear, {{"QUIT", "+OK Bye\r\n", "close"}}},

    // RFC 1939 §3: a command of the other state is unknown in this one.
    {"transaction_commands_before_login", Start::inside_tls,
     {bad("STAT", "Not logged in"), bad("LIST", "Not logged in"), bad("RETR 1", "Not logged in"),
      bad("DELE 1", "Not logged in"), bad("NOOP", "Not logged in"), bad("RSET", "Not logged in"),
      bad("TOP 1 1", "Not logged in"), bad("UIDL", "Not logged in")}},
    {"unknown_command", Start::clear, {bad("XYZZY", "Unknown command XYZZY"), bad("xyzzy 1", "Unknown command XYZZY")}},
    {"empty_line", Start::clear, {bad("", "Unknown command ")}},

    // TRANSACTION (RFC 1939 §5).
    {"capa_after_login", Start::logged_in, {{"CAPA", capa("")}}},
    {"stat", Start::logged_in, {{"STAT", "+OK 3 600\r\n"}}},
    {"list", Start::logged_in, {{"LIST", "+OK 3 messages\r\n1 100\r\n2 200\r\n3 300\r\n.\r\n"}}},
    {"list_one", Start::logged_in, {{"LIST 2", "+OK 2 200\r\n"}, {"list 3", "+OK 3 300\r\n"}}},
    {"list_no_such_message", Start::logged_in,
     {refused("LIST 4", "There is no message 4"), refused("LIST 0", "There is no message 0"),
      refused("LIST 99999999999999999999", "There is no message 99999999999999999999")}},
    {"list_not_a_number", Start::logged_in,
     {bad("LIST x", "Invalid message number: x"), bad("LIST -1", "Invalid message number: -1"),
      bad("LIST 1 2", "Invalid message number: 1 2")}},
    {"retr", Start::logged_in, {{"RETR 1", "+OK 100 octets\r\n", "send_message"}}},
    {"retr_errors", Start::logged_in,
     {bad("RETR", "Invalid message number: "), refused("RETR 4", "There is no message 4"),
      bad("RETR one", "Invalid message number: one")}},
    {"top", Start::logged_in, {{"TOP 1 5", ok, "send_message"}, {"TOP 2 0", ok, "send_message"}}},
    {"top_errors", Start::logged_in,
     {bad("TOP 1", "Syntax: TOP msg n"), bad("TOP", "Syntax: TOP msg n"), bad("TOP 1 x", "Syntax: TOP msg n"),
      bad("TOP x 1", "Invalid message number: x"), refused("TOP 4 1", "There is no message 4")}},
    {"dele_and_rset", Start::logged_in,
     {{"DELE 2", "+OK Marked to be deleted\r\n"}, refused("DELE 2", "Message 2 is deleted"),
      {"STAT", "+OK 2 400\r\n"}, {"LIST", "+OK 2 messages\r\n1 100\r\n3 300\r\n.\r\n"},
      refused("LIST 2", "Message 2 is deleted"), refused("RETR 2", "Message 2 is deleted"),
      refused("TOP 2 1", "Message 2 is deleted"), {"RSET", ok}, {"STAT", "+OK 3 600\r\n"},
      {"RETR 2", "+OK 200 octets\r\n", "send_message"}}},
    {"dele_errors", Start::logged_in,
     {bad("DELE", "Invalid message number: "), refused("DELE 9", "There is no message 9")}},
    {"noop", Start::logged_in, {{"NOOP", ok}}},
    {"authorization_commands_after_login", Start::logged_in,
     {bad("USER alice", "Already logged in"), bad("PASS x", "Already logged in"),
      bad("AUTH PLAIN", "Already logged in"), bad("STLS", "Already logged in")}},
    {"unknown_after_login", Start::logged_in, {bad("FOO", "Unknown command FOO")}},
    {"quit_after_login", Start::logged_in, {{"QUIT", "+OK Logging out\r\n", "update"}}},
};

class Pop3CommandsTest : public StoreTest {
 protected:
  void SetUp() override {
    add_domain("example.test");
    add_user("alice@example.test");
    write([](storage::WriteTxn& t) -> Status {
      for (std::size_t size : {100, 200, 300}) {
        auto blob = storage::put_blob(t, std::string(size, 'x'));
        if (auto uid = storage::append_message(t, "alice@example.test", blob, "", 0); !uid) return uid.error();
      }
      return {};
    });
  }

  SessionState state(Start start) {
    SessionState s;
    s.tls_available = start != Start::clear;
    s.tls = start == Start::inside_tls || start == Start::logged_in;
    s.allow_plaintext = start == Start::clear_plaintext_allowed;
    if (start == Start::logged_in) {
      auto drop = Maildrop::open(store(), "alice@example.test");
      EXPECT_TRUE(drop.ok());
      if (drop) s.maildrop = std::move(drop).value();
      s.state = State::transaction;
    }
    return s;
  }
};

class Pop3Dialogues : public Pop3CommandsTest, public testing::WithParamInterface<Dialogue> {};

TEST_P(Pop3Dialogues, Replies) {
  const Dialogue& d = GetParam();
  SessionState s = state(d.start);
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const Step& step = d.steps[i];
    SCOPED_TRACE("step " + std::to_string(i + 1) + ": " + step.command);
    Reply r = handle_command(s, step.command);
    EXPECT_EQ(format(r), step.wire);
    EXPECT_EQ(name(r.next), step.next);
    EXPECT_EQ(r.bad_command, step.bad);
  }
}

INSTANTIATE_TEST_SUITE_P(Pop3, Pop3Dialogues, testing::ValuesIn(dialogues),
                         [](const testing::TestParamInfo<Dialogue>& info) { return info.param.label; });

// What the session is handed for its I/O.

TEST_F(Pop3CommandsTest, PassHandsOverTheCredentials) {
  SessionState s = state(Start::inside_tls);
  ASSERT_TRUE(handle_command(s, "USER alice@example.test").ok);
  Reply r = handle_command(s, "PASS two words ");
  auto* credentials = std::get_if<next::Authenticate>(&r.next);
  ASSERT_NE(credentials, nullptr);
  EXPECT_EQ(credentials->user, "alice@example.test");
  EXPECT_EQ(credentials->secret, "two words ") << "RFC 1939 §7: the password may contain spaces";
  EXPECT_EQ(s.user, "");
  EXPECT_EQ(s.state, State::authorization) << "logging in is the session's, after the check";
}

TEST_F(Pop3CommandsTest, AuthPlainHandsOverTheCredentials) {
  SessionState s = state(Start::inside_tls);
  Reply r = handle_command(s, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=");  // "\0alice@example.test\0secret"
  auto* credentials = std::get_if<next::Authenticate>(&r.next);
  ASSERT_NE(credentials, nullptr);
  EXPECT_EQ(credentials->user, "alice@example.test");
  EXPECT_EQ(credentials->secret, "secret");
}

TEST(Pop3PlainResponse, AfterTheContinuation) {
  Reply r = plain_response("AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=");
  auto* credentials = std::get_if<next::Authenticate>(&r.next);
  ASSERT_NE(credentials, nullptr);
  EXPECT_EQ(credentials->user, "alice@example.test");
  EXPECT_EQ(credentials->secret, "secret");

  Reply cancelled = plain_response("*");  // RFC 5034 §4
  EXPECT_EQ(format(cancelled), "-ERR Authentication cancelled\r\n");
  EXPECT_FALSE(cancelled.bad_command);
  EXPECT_EQ(name(cancelled.next), "none");

  Reply broken = plain_response("not base64");
  EXPECT_EQ(format(broken), "-ERR [AUTH] Invalid SASL PLAIN response\r\n");
  EXPECT_TRUE(broken.bad_command);
}

TEST_F(Pop3CommandsTest, RetrAndTopNameTheMessage) {
  SessionState s = state(Start::logged_in);
  Reply retr = handle_command(s, "RETR 3");
  auto* whole = std::get_if<next::SendMessage>(&retr.next);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(whole->message, 3u);
  EXPECT_FALSE(whole->top_lines);

  Reply top = handle_command(s, "TOP 2 7");
  auto* head = std::get_if<next::SendMessage>(&top.next);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->message, 2u);
  EXPECT_EQ(head->top_lines, 7u);

  // A line count past 2^64 is well formed: every line.
  Reply all = handle_command(s, "TOP 1 99999999999999999999999");
  auto* every = std::get_if<next::SendMessage>(&all.next);
  ASSERT_NE(every, nullptr);
  EXPECT_EQ(every->top_lines, std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(name(handle_command(s, "TOP 1 00000000000000000003").next), "send_message");
}

TEST_F(Pop3CommandsTest, UidlListsTheUniqueIds) {
  SessionState s = state(Start::logged_in);
  const std::string u1 = s.maildrop->find(1)->uidl, u2 = s.maildrop->find(2)->uidl, u3 = s.maildrop->find(3)->uidl;
  EXPECT_NE(u1, u2);
  EXPECT_EQ(format(handle_command(s, "UIDL")),
            "+OK 3 messages\r\n1 " + u1 + "\r\n2 " + u2 + "\r\n3 " + u3 + "\r\n.\r\n");
  EXPECT_EQ(format(handle_command(s, "UIDL 2")), "+OK 2 " + u2 + "\r\n");
  ASSERT_TRUE(handle_command(s, "DELE 1").ok);
  EXPECT_EQ(format(handle_command(s, "UIDL")), "+OK 2 messages\r\n2 " + u2 + "\r\n3 " + u3 + "\r\n.\r\n");
  EXPECT_EQ(format(handle_command(s, "UIDL 1")), "-ERR Message 1 is deleted\r\n");
  EXPECT_TRUE(handle_command(s, "UIDL x").bad_command);
}

TEST_F(Pop3CommandsTest, DeleMarksOnlyUntilQuit) {
  SessionState s = state(Start::logged_in);
  ASSERT_TRUE(handle_command(s, "DELE 1").ok);
  ASSERT_TRUE(handle_command(s, "DELE 3").ok);
  EXPECT_EQ(s.maildrop->marked(), 2u);
  EXPECT_EQ(name(handle_command(s, "QUIT").next), "update") << "deleting is the UPDATE state's, in the session";
  EXPECT_EQ(s.maildrop->count(), 3u);
}

// STLS (RFC 2595 §4): after the handshake the USER name given before is gone.
TEST_F(Pop3CommandsTest, TlsForgetsTheUser) {
  SessionState s = state(Start::clear_plaintext_allowed);
  s.tls_available = true;
  ASSERT_TRUE(handle_command(s, "USER alice@example.test").ok);
  ASSERT_EQ(name(handle_command(s, "STLS").next), "start_tls");
  s.tls_started();
  EXPECT_EQ(format(handle_command(s, "PASS secret")), "-ERR No user name given: USER first\r\n");
}

// Replies on the wire (RFC 1939 §3, RFC 2449 §8).

TEST(Pop3Reply, Format) {
  EXPECT_EQ(format(Reply::success("")), "+OK\r\n");
  EXPECT_EQ(format(Reply::success("Logged in")), "+OK Logged in\r\n");
  EXPECT_EQ(format(Reply::failure("Mailbox is locked", "IN-USE")), "-ERR [IN-USE] Mailbox is locked\r\n");
  EXPECT_EQ(format(Reply::failure("", "SYS/TEMP")), "-ERR [SYS/TEMP]\r\n");
  Reply bad = Reply::bad("Unknown command X");
  EXPECT_TRUE(bad.bad_command);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(format(bad), "-ERR Unknown command X\r\n");
}

TEST(Pop3Reply, MultilineIsDotStuffed) {
  Reply r = Reply::success("follows");
  r.multiline = true;
  r.lines = {"first", ".hidden", "..two", ".", ""};
  EXPECT_EQ(format(r), "+OK follows\r\nfirst\r\n..hidden\r\n...two\r\n..\r\n\r\n.\r\n");
  r.lines.clear();
  EXPECT_EQ(format(r), "+OK follows\r\n.\r\n");
}

TEST(Pop3Reply, AppendStuffedLine) {
  std::string out = "x";
  append_stuffed_line(out, ".a");
  append_stuffed_line(out, "b.");
  append_stuffed_line(out, "");
  EXPECT_EQ(out, "x..a\r\nb.\r\n\r\n");
}

}  // namespace
}  // namespace aviary::pop3d
