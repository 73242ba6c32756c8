// tools_aviaryctl_test.cpp - the real aviaryctl binary against a store of its own:
// output text and JSON, exit codes, password input, and what reaches the
// store (checked through the storage API, as a daemon would see it).
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/password.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/env.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/queue.hpp"
#include "storage/lmdb/writer.hpp"
#include "tests/integration/json_reader.hpp"
#include "tests/integration/program_runner.hpp"
#include "tests/support/temp_dir.hpp"

namespace aviary::test {
namespace {

constexpr std::uint64_t map_size = 64ull << 20;

std::size_t count_lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

class AviaryctlTest : public ::testing::Test {
 protected:
  AviaryctlTest() {
    // Cheap Argon2 parameters: a test hashes dozens of passwords.
    config_ = dir_.write("aviary.toml", "[storage]\n"
                                        "path = \"" + store_path() + "\"\n"
                                        "map_size = \"64MiB\"\n"
                                        "\n"
                                        "[password]\n"
                                        "memory = \"1MiB\"\n"
                                        "iterations = 1\n");
  }

  std::string store_path() const { return dir_.file("store"); }

  // aviaryctl -c <our config> ARGS, with `input` on stdin.
  ProgramResult ctl(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), {"-c", config_});
    return run_program(AVIARYCTL_PATH, args, input);
  }

  // Runs a command that must succeed silently on stderr; returns stdout.
  std::string ok(const std::vector<std::string>& args, const std::string& input = {}) {
    ProgramResult r = ctl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "aviaryctl " << testing::PrintToString(args) << "\nstderr: " << r.err;
    EXPECT_EQ(r.err, "");
    return r.out;
  }

  Json json(const std::vector<std::string>& args) { return Json::parse(ok(args)); }

  void add_domain(const std::string& domain) { EXPECT_EQ(ok({"domain", "add", domain}), "added domain " + domain + "\n"); }
  void add_user(const std::string& address, const std::string& password = "pw") {
    EXPECT_EQ(ok({"user", "add", address, "--password-stdin"}, password + "\n"), "added user " + address + "\n");
  }

  // The store as a running daemon sees it.
  storage::Env& env() {
    if (!env_) env_ = std::make_unique<storage::Env>(storage::EnvOptions{store_path(), map_size});
    return *env_;
  }
  std::optional<storage::User> stored_user(const std::string& key) {
    storage::ReadTxn txn(env());
    return storage::find_user(txn, key);
  }

  TempDir dir_;
  std::string config_;
  std::unique_ptr<storage::Env> env_;
};

// An expected failure: exit 1, nothing on stdout, exactly this one line on stderr.
void expect_failure(const ProgramResult& r, const std::string& line) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "aviaryctl: " + line + "\n");
}

// An expected failure whose line starts with `prefix` (the rest comes from
// a parser whose wording is not aviaryctl's contract).
void expect_failure_prefix(const ProgramResult& r, const std::string& prefix) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("aviaryctl: " + prefix, 0), 0u) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
}

// --- usage ---------------------------------------------------------------

struct UsageCase {
  const char* label;
  std::vector<std::string> args;
  const char* complaint;  // expected in the first line of stderr
};

TEST_F(AviaryctlTest, UsageErrorsExitTwoWithUsage) {
  const UsageCase cases[] = {
      {"no arguments", {}, "subcommand is required"},
      {"unknown noun", {"frob"}, "unknown command \"frob\""},
      {"noun without verb", {"domain"}, "subcommand is required"},
      {"unknown verb", {"domain", "frob"}, "unknown command \"domain frob\""},
      {"unknown verb of user", {"user", "rename", "a@example.test"}, "unknown command \"user rename\""},
      {"missing domain", {"domain", "add"}, "domain is required"},
      {"missing address", {"user", "add"}, "address is required"},
      {"missing quota size", {"user", "quota", "alice@example.test"}, "size is required"},
      {"missing alias targets", {"alias", "add", "@example.test"}, "targets is required"},
      {"missing mailbox address", {"mailbox", "stat"}, "address is required"},
      {"extra argument", {"domain", "add", "a.test", "b.test"}, "not expected: b.test"},
      {"unknown option", {"--frobnicate", "domain", "list"}, "not expected: --frobnicate"},
      {"option needs a value", {"user", "add", "a@example.test", "--quota"}, "--quota"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    ProgramResult r = ctl(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    std::string first = r.err.substr(0, r.err.find('\n'));
    EXPECT_EQ(first.rfind("aviaryctl: ", 0), 0u) << r.err;
    EXPECT_NE(first.find(c.complaint), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Usage: aviaryctl"), std::string::npos) << r.err;
  }
  // None of them got as far as creating the store.
  EXPECT_FALSE(std::filesystem::exists(store_path()));
}

TEST_F(AviaryctlTest, UsageShowsTheCommandBeingTyped) {
  ProgramResult r = ctl({"user", "quota"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Usage: aviaryctl user quota"), std::string::npos) << r.err;
}

TEST_F(AviaryctlTest, HelpGoesToStdoutAndExitsZero) {
  ProgramResult r = ctl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  for (const char* noun : {"domain", "user", "alias", "mailbox", "queue"}) EXPECT_NE(r.out.find(noun), std::string::npos);

  r = ctl({"user", "add", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--password-stdin"), std::string::npos);
  EXPECT_NE(r.out.find("--quota"), std::string::npos);
}

// --- configuration -------------------------------------------------------

TEST_F(AviaryctlTest, MissingConfigFileIsAnErrorNamingIt) {
  std::string missing = dir_.file("missing.toml");
  ProgramResult r = run_program(AVIARYCTL_PATH, {"-c", missing, "domain", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("aviaryctl: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
}

TEST_F(AviaryctlTest, LongConfigOptionAndOptionsAfterTheVerb) {
  add_domain("example.test");
  ProgramResult r = run_program(AVIARYCTL_PATH, {"domain", "list", "--config", config_, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)[0]["name"].str(), "example.test");
}

TEST_F(AviaryctlTest, BadConfigIsAnErrorNamingFileAndKey) {
  std::string bad = dir_.write("bad.toml", "[storage]\npath = \"" + store_path() + "\"\nbogus_key = 1\n");
  ProgramResult r = run_program(AVIARYCTL_PATH, {"-c", bad, "domain", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bogus_key"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
}

TEST_F(AviaryctlTest, UnusableStoreIsAnError) {
  // A plain file where the store directory should be.
  std::string blocker = dir_.write("blocker", "not a directory");
  std::string config = dir_.write("blocked.toml", "[storage]\npath = \"" + blocker + "/store\"\n");
  ProgramResult r = run_program(AVIARYCTL_PATH, {"-c", config, "domain", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("aviaryctl: ", 0), 0u) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
}

// --- domains -------------------------------------------------------------

TEST_F(AviaryctlTest, DomainAddNormalisesAndLists) {
  EXPECT_EQ(ok({"domain", "add", "Example.TEST"}), "added domain example.test\n");
  EXPECT_EQ(ok({"domain", "add", "bücher.example"}), "added domain xn--bcher-kva.example\n");
  add_user("alice@example.test");
  EXPECT_EQ(ok({"alias", "add", "@example.test", "alice@example.test"}), "added alias @example.test -> alice@example.test\n");

  EXPECT_EQ(ok({"domain", "list"}),
            "example.test           1 user   1 alias\n"
            "xn--bcher-kva.example  0 users  0 aliases\n");

  Json list = json({"--json", "domain", "list"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"].str(), "example.test");
  EXPECT_EQ(list[0]["users"].u64(), 1u);
  EXPECT_EQ(list[0]["aliases"].u64(), 1u);
  EXPECT_GT(list[0]["created"].i64(), 0);
  EXPECT_EQ(list[1]["name"].str(), "xn--bcher-kva.example");
  EXPECT_EQ(list[1]["users"].u64(), 0u);

  // Visible to another process (a daemon) without a restart.
  storage::ReadTxn txn(env());
  EXPECT_TRUE(storage::is_hosted(txn, "example.test"));
  EXPECT_TRUE(storage::is_hosted(txn, "xn--bcher-kva.example"));
}

TEST_F(AviaryctlTest, EmptyListsPrintNothingOrAnEmptyArray) {
  EXPECT_EQ(ok({"domain", "list"}), "");
  EXPECT_EQ(ok({"user", "list"}), "");
  EXPECT_EQ(ok({"alias", "list"}), "");
  for (const char* noun : {"domain", "user", "alias"}) {
    Json list = json({"--json", noun, "list"});
    EXPECT_TRUE(list.is(Json::Kind::array)) << noun;
    EXPECT_EQ(list.size(), 0u) << noun;
  }
}

TEST_F(AviaryctlTest, DomainAddTwiceFails) {
  add_domain("example.test");
  expect_failure(ctl({"domain", "add", "EXAMPLE.test"}), "domain example.test already exists");
}

TEST_F(AviaryctlTest, BadDomainNameFails) {
  expect_failure_prefix(ctl({"domain", "add", "bad domain!"}), "bad domain \"bad domain!\"");
  expect_failure_prefix(ctl({"domain", "add", "a..b"}), "bad domain \"a..b\"");
  EXPECT_EQ(ok({"domain", "list"}), "");
}

TEST_F(AviaryctlTest, DomainDelRemovesIt) {
  add_domain("example.test");
  add_domain("example.org");
  EXPECT_EQ(ok({"domain", "del", "example.org"}), "deleted domain example.org\n");
  EXPECT_EQ(ok({"domain", "list"}), "example.test  0 users  0 aliases\n");
  expect_failure(ctl({"domain", "del", "example.org"}), "unknown domain example.org");
}

TEST_F(AviaryctlTest, DomainDelWithUsersNeedsForce) {
  add_domain("example.test");
  add_domain("example.org");
  add_user("alice@example.test");
  add_user("carol@example.test");
  add_user("bob@example.org");
  ok({"alias", "add", "postmaster@example.test", "alice@example.test"});

  expect_failure(ctl({"domain", "del", "example.test"}), "domain example.test still has 2 users (use --force)");
  EXPECT_EQ(json({"--json", "user", "list", "example.test"}).size(), 2u);

  EXPECT_EQ(ok({"domain", "del", "example.test", "--force"}),
            "deleted domain example.test with 2 users and 1 alias\n");
  EXPECT_EQ(ok({"domain", "list"}), "example.org  1 user  0 aliases\n");
  EXPECT_EQ(ok({"alias", "list"}), "");
  Json users = json({"--json", "user", "list"});
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["address"].str(), "bob@example.org");
  EXPECT_FALSE(stored_user("alice@example.test"));
  EXPECT_FALSE(stored_user("carol@example.test"));
  EXPECT_TRUE(stored_user("bob@example.org"));
}

// --- users ---------------------------------------------------------------

TEST_F(AviaryctlTest, UserAddStoresOnlyAnArgon2idHash) {
  add_domain("example.test");
  ProgramResult r = ctl({"user", "add", "Alice@Example.TEST", "--password-stdin"}, "correct horse\r\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "added user alice@example.test\n");
  EXPECT_EQ(r.err, "");

  auto user = stored_user("alice@example.test");
  ASSERT_TRUE(user);
  // The [password] table of the config is what hash_password was given.
  EXPECT_EQ(user->password_hash.rfind("$argon2id$v=19$m=1024,t=1,p=1$", 0), 0u) << user->password_hash;
  EXPECT_EQ(user->password_hash.find("correct horse"), std::string::npos);
  // The line end is not part of the password.
  EXPECT_TRUE(verify_password("correct horse", user->password_hash));
  EXPECT_FALSE(verify_password("correct horse\r", user->password_hash));
  EXPECT_EQ(user->quota, 0u);
}

TEST_F(AviaryctlTest, UserAddWithQuota) {
  add_domain("example.test");
  EXPECT_EQ(ok({"user", "add", "alice@example.test", "--quota", "35MiB", "--password-stdin"}, "pw\n"),
            "added user alice@example.test with quota 35MiB\n");
  auto user = stored_user("alice@example.test");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->quota, 35ull << 20);

  expect_failure_prefix(ctl({"user", "add", "bob@example.test", "--quota", "lots", "--password-stdin"}, "pw\n"),
                        "bad quota \"lots\"");
  EXPECT_FALSE(stored_user("bob@example.test"));
}

TEST_F(AviaryctlTest, UserAddExistingFailsAndKeepsThePassword) {
  add_domain("example.test");
  add_user("alice@example.test", "first");
  expect_failure(ctl({"user", "add", "ALICE@example.test", "--password-stdin"}, "second\n"),
                 "user alice@example.test already exists");
  auto user = stored_user("alice@example.test");
  ASSERT_TRUE(user);
  EXPECT_TRUE(verify_password("first", user->password_hash));
}

TEST_F(AviaryctlTest, UserInUnhostedDomainFails) {
  add_domain("example.test");
  expect_failure(ctl({"user", "add", "bob@example.net", "--password-stdin"}, "pw\n"), "unknown domain example.net");
  expect_failure(ctl({"user", "list", "example.net"}), "unknown domain example.net");
  expect_failure(ctl({"user", "del", "bob@example.net"}), "unknown domain example.net");
  expect_failure(ctl({"mailbox", "stat", "bob@example.net"}), "unknown domain example.net");
  EXPECT_FALSE(stored_user("bob@example.net"));
}

TEST_F(AviaryctlTest, BadAddressFails) {
  add_domain("example.test");
  for (const char* bad : {"a@@b", "no-at-sign", "@example.test", "a b@example.test"}) {
    SCOPED_TRACE(bad);
    expect_failure_prefix(ctl({"user", "add", bad, "--password-stdin"}, "pw\n"),
                          std::string("bad address \"") + bad + "\": ");
  }
  expect_failure_prefix(ctl({"mailbox", "stat", "a@@b"}), "bad address \"a@@b\": ");
  expect_failure_prefix(ctl({"alias", "add", "x@example.test", "a@@b"}), "bad address \"a@@b\": ");
  EXPECT_EQ(ok({"user", "list"}), "");
}

TEST_F(AviaryctlTest, NoPasswordWithoutTerminalOrFlag) {
  add_domain("example.test");
  // stdin is a pipe here, not a terminal, and the flag is missing.
  expect_failure(ctl({"user", "add", "alice@example.test"}, "pw\n"), "no password given: use --password-stdin");
  EXPECT_FALSE(stored_user("alice@example.test"));
}

TEST_F(AviaryctlTest, EmptyPasswordOnStdinFails) {
  add_domain("example.test");
  for (const char* input : {"\n", "\r\n", ""}) {
    SCOPED_TRACE(testing::PrintToString(std::string(input)));
    ProgramResult r = ctl({"user", "add", "alice@example.test", "--password-stdin"}, input);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("password"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(stored_user("alice@example.test"));
}

TEST_F(AviaryctlTest, PasswordPromptOnTerminalWithoutEcho) {
  add_domain("example.test");
  ProgramResult r = run_on_terminal(AVIARYCTL_PATH, {"-c", config_, "user", "add", "alice@example.test"},
                                    {{"Password: ", "tty secret\n"}, {"Repeat password: ", "tty secret\n"}});
  EXPECT_FALSE(r.timed_out) << "terminal so far: " << r.terminal;
  EXPECT_EQ(r.steps_done, 2u) << r.terminal;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "added user alice@example.test\n");
  EXPECT_EQ(r.err, "");
  // Prompts on the terminal, never on stdout; the password never shown.
  EXPECT_NE(r.terminal.find("Password: "), std::string::npos);
  EXPECT_NE(r.terminal.find("Repeat password: "), std::string::npos);
  EXPECT_EQ(r.terminal.find("tty secret"), std::string::npos) << r.terminal;

  auto user = stored_user("alice@example.test");
  ASSERT_TRUE(user);
  EXPECT_TRUE(verify_password("tty secret", user->password_hash));
}

TEST_F(AviaryctlTest, PasswordPromptMismatchFails) {
  add_domain("example.test");
  ProgramResult r = run_on_terminal(AVIARYCTL_PATH, {"-c", config_, "user", "add", "alice@example.test"},
                                    {{"Password: ", "one\n"}, {"Repeat password: ", "two\n"}});
  EXPECT_FALSE(r.timed_out) << r.terminal;
  EXPECT_EQ(r.steps_done, 2u) << r.terminal;
  expect_failure(r, "passwords do not match");
  EXPECT_FALSE(stored_user("alice@example.test"));
}

TEST_F(AviaryctlTest, PasswordPromptForPasswd) {
  add_domain("example.test");
  add_user("alice@example.test", "old");
  ProgramResult r = run_on_terminal(AVIARYCTL_PATH, {"-c", config_, "user", "passwd", "alice@example.test"},
                                    {{"Password: ", "new one\n"}, {"Repeat password: ", "new one\n"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "changed password of alice@example.test\n");
  auto user = stored_user("alice@example.test");
  ASSERT_TRUE(user);
  EXPECT_TRUE(verify_password("new one", user->password_hash));
}

TEST_F(AviaryctlTest, UserPasswdChangesTheHash) {
  add_domain("example.test");
  add_user("alice@example.test", "old");
  auto before = stored_user("alice@example.test");
  ASSERT_TRUE(before);

  EXPECT_EQ(ok({"user", "passwd", "alice@example.test", "--password-stdin"}, "new\n"),
            "changed password of alice@example.test\n");
  auto after = stored_user("alice@example.test");
  ASSERT_TRUE(after);
  EXPECT_TRUE(verify_password("new", after->password_hash));
  EXPECT_FALSE(verify_password("old", after->password_hash));
  EXPECT_EQ(after->id, before->id);

  expect_failure(ctl({"user", "passwd", "bob@example.test", "--password-stdin"}, "x\n"), "unknown user bob@example.test");
  expect_failure(ctl({"user", "passwd", "alice@example.test"}, "x\n"), "no password given: use --password-stdin");
}

TEST_F(AviaryctlTest, UserListTextAndJson) {
  add_domain("example.test");
  add_domain("example.org");
  add_user("alice@example.test");
  ok({"user", "add", "bob@example.org", "--quota", "1GiB", "--password-stdin"}, "pw\n");

  EXPECT_EQ(ok({"user", "list"}),
            "bob@example.org     0 messages  0B  quota 1GiB\n"
            "alice@example.test  0 messages  0B  quota none\n");
  EXPECT_EQ(ok({"user", "list", "example.test"}), "alice@example.test  0 messages  0B  quota none\n");

  Json all = json({"--json", "user", "list"});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["address"].str(), "bob@example.org");
  EXPECT_EQ(all[0]["quota"].u64(), 1ull << 30);
  EXPECT_EQ(all[0]["messages"].u64(), 0u);
  EXPECT_EQ(all[0]["bytes"].u64(), 0u);
  EXPECT_EQ(all[1]["address"].str(), "alice@example.test");
  EXPECT_EQ(all[1]["quota"].u64(), 0u);
  // Nothing secret in a listing.
  EXPECT_FALSE(all[1].has("password_hash"));
  EXPECT_EQ(ok({"--json", "user", "list"}).find("argon2"), std::string::npos);

  Json one = json({"user", "list", "EXAMPLE.org", "--json"});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["address"].str(), "bob@example.org");
}

TEST_F(AviaryctlTest, JsonEscapesAddresses) {
  add_domain("example.test");
  // A quoted local part holding a quote, a backslash and a space (RFC 5321
  // §4.1.2), and a UTF-8 one (RFC 6531): the JSON must stay valid.
  ProgramResult r = ctl({"user", "add", R"("a\"b\\c d"@example.test)", "--password-stdin"}, "pw\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  add_user("jörg@example.test");
  Json list = json({"--json", "user", "list"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["address"].str(), R"(a"b\c d@example.test)");
  EXPECT_EQ(list[1]["address"].str(), "jörg@example.test");
}

TEST_F(AviaryctlTest, UserQuotaSetAndRemove) {
  add_domain("example.test");
  add_user("alice@example.test");

  EXPECT_EQ(ok({"user", "quota", "alice@example.test", "512MiB"}), "set quota of alice@example.test to 512MiB\n");
  EXPECT_EQ(stored_user("alice@example.test")->quota, 512ull << 20);
  EXPECT_EQ(json({"--json", "user", "list"})[0]["quota"].u64(), 512ull << 20);
  EXPECT_EQ(ok({"user", "list"}), "alice@example.test  0 messages  0B  quota 512MiB\n");

  EXPECT_EQ(ok({"user", "quota", "alice@example.test", "1048577"}), "set quota of alice@example.test to 1048577B\n");
  EXPECT_EQ(stored_user("alice@example.test")->quota, 1048577u);

  EXPECT_EQ(ok({"user", "quota", "alice@example.test", "none"}), "removed quota of alice@example.test\n");
  EXPECT_EQ(stored_user("alice@example.test")->quota, 0u);
  EXPECT_EQ(ok({"user", "list"}), "alice@example.test  0 messages  0B  quota none\n");

  expect_failure_prefix(ctl({"user", "quota", "alice@example.test", "12XB"}), "bad quota \"12XB\"");
  expect_failure_prefix(ctl({"user", "quota", "alice@example.test", "-1"}), "bad quota \"-1\"");
  EXPECT_EQ(stored_user("alice@example.test")->quota, 0u);
  expect_failure(ctl({"user", "quota", "bob@example.test", "1GiB"}), "unknown user bob@example.test");
}

TEST_F(AviaryctlTest, UserDel) {
  add_domain("example.test");
  add_user("alice@example.test");
  add_user("bob@example.test");
  EXPECT_EQ(ok({"user", "del", "Alice@example.test"}), "deleted user alice@example.test\n");
  EXPECT_EQ(ok({"user", "list"}), "bob@example.test  0 messages  0B  quota none\n");
  EXPECT_FALSE(stored_user("alice@example.test"));
  expect_failure(ctl({"user", "del", "alice@example.test"}), "unknown user alice@example.test");
}

// --- aliases -------------------------------------------------------------

TEST_F(AviaryctlTest, AliasAddListDel) {
  add_domain("example.test");
  add_user("alice@example.test");
  EXPECT_EQ(ok({"alias", "add", "Postmaster@example.test", "alice@example.test", "admin@Example.ORG"}),
            "added alias postmaster@example.test -> alice@example.test, admin@example.org\n");
  EXPECT_EQ(ok({"alias", "add", "@EXAMPLE.test", "alice@example.test"}), "added alias @example.test -> alice@example.test\n");

  EXPECT_EQ(ok({"alias", "list"}),
            "@example.test            -> alice@example.test\n"
            "postmaster@example.test  -> alice@example.test, admin@example.org\n");

  Json list = json({"--json", "alias", "list", "example.test"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["source"].str(), "@example.test");
  ASSERT_EQ(list[0]["targets"].size(), 1u);
  EXPECT_EQ(list[0]["targets"][0].str(), "alice@example.test");
  EXPECT_EQ(list[1]["source"].str(), "postmaster@example.test");
  ASSERT_EQ(list[1]["targets"].size(), 2u);
  EXPECT_EQ(list[1]["targets"][1].str(), "admin@example.org");

  EXPECT_EQ(ok({"alias", "del", "@example.test"}), "deleted alias @example.test\n");
  EXPECT_EQ(ok({"alias", "list"}), "postmaster@example.test  -> alice@example.test, admin@example.org\n");
  expect_failure(ctl({"alias", "del", "@example.test"}), "no alias @example.test");

  // A daemon sees the remaining alias.
  storage::ReadTxn txn(env());
  auto alias = storage::find_alias(txn, Address{"postmaster", "example.test"});
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->targets, (std::vector<std::string>{"alice@example.test", "admin@example.org"}));
}

TEST_F(AviaryctlTest, AliasLoopIsRefused) {
  add_domain("example.test");
  ok({"alias", "add", "a@example.test", "b@example.test"});
  ProgramResult r = ctl({"alias", "add", "b@example.test", "a@example.test"});
  expect_failure_prefix(r, "alias loop: ");
  // The refused change left nothing behind.
  Json list = json({"--json", "alias", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["source"].str(), "a@example.test");

  expect_failure_prefix(ctl({"alias", "add", "c@example.test", "c@example.test"}), "alias loop: ");
}

TEST_F(AviaryctlTest, AliasInUnhostedDomainFails) {
  add_domain("example.test");
  expect_failure(ctl({"alias", "add", "x@example.net", "alice@example.test"}), "unknown domain example.net");
  expect_failure(ctl({"alias", "add", "@example.net", "alice@example.test"}), "unknown domain example.net");
  expect_failure(ctl({"alias", "list", "example.net"}), "unknown domain example.net");
  // A target may live anywhere: it is relayed.
  EXPECT_EQ(ok({"alias", "add", "x@example.test", "someone@example.net"}), "added alias x@example.test -> someone@example.net\n");
}

// --- mailboxes -----------------------------------------------------------

TEST_F(AviaryctlTest, MailboxStatOfEmptyMailbox) {
  add_domain("example.test");
  ok({"user", "add", "alice@example.test", "--quota", "1GiB", "--password-stdin"}, "pw\n");
  EXPECT_EQ(ok({"mailbox", "stat", "alice@example.test"}), "alice@example.test  0 messages  0B  quota 1GiB\n");
  Json stat = json({"--json", "mailbox", "stat", "Alice@example.test"});
  EXPECT_TRUE(stat.is(Json::Kind::object));
  EXPECT_EQ(stat["address"].str(), "alice@example.test");
  EXPECT_EQ(stat["messages"].u64(), 0u);
  EXPECT_EQ(stat["bytes"].u64(), 0u);
  EXPECT_EQ(stat["quota"].u64(), 1ull << 30);
  expect_failure(ctl({"mailbox", "stat", "bob@example.test"}), "unknown user bob@example.test");
}

TEST_F(AviaryctlTest, MailboxStatCountsDeliveredMail) {
  add_domain("example.test");
  add_user("alice@example.test");
  // Deliver as aviary-smtpd would, through the store.
  const std::string body = "Subject: hi\r\n\r\nhello\r\n";
  const std::string prefix = "Delivered-To: alice@example.test\r\n";
  Status delivered = storage::write_once(env(), [&](storage::WriteTxn& txn) -> Status {
    for (int i = 0; i < 2; ++i) {
      auto uid = storage::append_message(txn, "alice@example.test", storage::put_blob(txn, body), prefix, 0);
      if (!uid) return uid.error();
    }
    return {};
  });
  ASSERT_TRUE(delivered.ok()) << delivered.error().message;
  const std::uint64_t bytes = 2 * (body.size() + prefix.size());

  Json stat = json({"--json", "mailbox", "stat", "alice@example.test"});
  EXPECT_EQ(stat["messages"].u64(), 2u);
  EXPECT_EQ(stat["bytes"].u64(), bytes);
  EXPECT_EQ(ok({"mailbox", "stat", "alice@example.test"}),
            "alice@example.test  2 messages  " + std::to_string(bytes) + "B  quota none\n");
  EXPECT_EQ(json({"--json", "user", "list"})[0]["messages"].u64(), 2u);
}

// --- sharing the store ---------------------------------------------------

TEST_F(AviaryctlTest, WorksWhileAnotherProcessHoldsTheStore) {
  add_domain("example.test");
  // A daemon with the environment open and a reader in the middle of a lookup.
  storage::Env& daemon = env();
  storage::ReadTxn old_view(daemon);
  add_user("alice@example.test");
  EXPECT_EQ(ok({"user", "list"}), "alice@example.test  0 messages  0B  quota none\n");
  // The old snapshot stays consistent; a new transaction sees the change.
  EXPECT_FALSE(storage::find_user(old_view, std::string_view("alice@example.test")));
  storage::ReadTxn fresh(daemon);
  EXPECT_TRUE(storage::find_user(fresh, std::string_view("alice@example.test")));
}

}  // namespace
}  // namespace aviary::test

namespace aviary::test {
namespace {

// --- queue ---------------------------------------------------------------

class AviaryctlQueueTest : public AviaryctlTest {
 protected:
  // Queues a message as aviary-smtpd's submission path does.
  std::uint64_t enqueue(const std::string& message_id, std::int64_t due) {
    std::uint64_t id = 0;
    Status queued = storage::write_once(env(), [&](storage::WriteTxn& txn) -> Status {
      auto blob = storage::put_blob(txn, "Subject: out\r\n\r\nbody\r\n");
      id = storage::enqueue(txn, "alice@example.test", {"bob@remote.test", "carol@remote.test"}, blob, due, message_id);
      return {};
    });
    EXPECT_TRUE(queued.ok());
    return id;
  }
};

TEST_F(AviaryctlQueueTest, ListShowFlushDelete) {
  EXPECT_EQ(ok({"queue", "list"}), "");
  std::uint64_t first = enqueue("MSGONE", 4102444800);  // due in 2100
  std::uint64_t second = enqueue("MSGTWO", 4102444800);

  Json list = json({"--json", "queue", "list"});
  ASSERT_TRUE(list.is(Json::Kind::array));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"].u64(), first);
  EXPECT_EQ(list[0]["message_id"].str(), "MSGONE");
  EXPECT_EQ(list[0]["sender"].str(), "alice@example.test");
  EXPECT_EQ(list[0]["size"].u64(), 22u);
  EXPECT_EQ(list[0]["recipients"].size(), 2u);
  EXPECT_EQ(list[0]["recipients"][1]["address"].str(), "carol@remote.test");
  EXPECT_EQ(list[0]["recipients"][1]["status"].str(), "pending");
  std::string text = ok({"queue", "list"});
  EXPECT_NE(text.find("MSGTWO"), std::string::npos) << text;
  EXPECT_NE(text.find("2 recipients pending"), std::string::npos) << text;

  // By number or by the id the client was told.
  Json shown = json({"--json", "queue", "show", "MSGTWO"});
  EXPECT_EQ(shown["id"].u64(), second);
  EXPECT_NE(ok({"queue", "show", std::to_string(first)}).find("bob@remote.test"), std::string::npos);
  expect_failure(ctl({"queue", "show", "NOSUCH"}), "no queue entry NOSUCH");

  EXPECT_EQ(ok({"queue", "flush"}), "flushed 2 queue entries\n");
  {
    storage::ReadTxn txn(env());
    EXPECT_EQ(storage::due_entries(txn, static_cast<std::int64_t>(std::time(nullptr)) + 1, 10).size(), 2u);
  }

  EXPECT_EQ(ok({"queue", "del", "MSGONE"}), "deleted queue entry " + std::to_string(first) + "\n");
  expect_failure(ctl({"queue", "del", "MSGONE"}), "no queue entry MSGONE");
  list = json({"--json", "queue", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["message_id"].str(), "MSGTWO");
  EXPECT_EQ(ctl({"queue", "frob"}).exit_code, 2);
}


// Issue 11 item 10: the read-only commands never take LMDB's write lock, so
// they answer while a daemon (here: this test) holds a write transaction.
TEST_F(AviaryctlTest, ReadOnlyCommandsDoNotWaitForAWriter) {
  add_domain("example.test");
  add_user("alice@example.test");
  ok({"alias", "add", "info@example.test", "alice@example.test"});
  std::uint64_t queued = 0;
  ASSERT_TRUE(storage::write_once(env(), [&](storage::WriteTxn& txn) -> Status {
    auto blob = storage::put_blob(txn, "Subject: out\r\n\r\nbody\r\n");
    queued = storage::enqueue(txn, "alice@example.test", {"bob@remote.test"}, blob, 4102444800, "HELDQ");
    return {};
  }).ok());

  storage::WriteTxn held(env());  // the write lock, until the end of the test
  const std::vector<std::vector<std::string>> commands = {
      {"domain", "list"},          {"user", "list"},           {"alias", "list"},
      {"mailbox", "stat", "alice@example.test"}, {"queue", "list"}, {"queue", "show", "HELDQ"},
      {"--json", "user", "list"},
  };
  for (const auto& args : commands) {
    std::vector<std::string> full = {"-c", config_};
    full.insert(full.end(), args.begin(), args.end());
    ProgramResult r = run_program(AVIARYCTL_PATH, full, {}, std::chrono::seconds(5));
    EXPECT_FALSE(r.timed_out) << "aviaryctl " << testing::PrintToString(args) << " waited for the writer";
    EXPECT_EQ(r.exit_code, 0) << "aviaryctl " << testing::PrintToString(args) << "\nstderr: " << r.err;
    EXPECT_FALSE(r.out.empty()) << testing::PrintToString(args);
  }
  EXPECT_NE(queued, 0u);
}

}  // namespace
}  // namespace aviary::test
