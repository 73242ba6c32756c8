// storage_resolve_test.cpp - recipient resolution, one labelled row per rule.
#include "storage/lmdb/resolve.hpp"

#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using Outcome = storage::Resolution::Outcome;

struct Case {
  const char* label;
  const char* recipient;
  Outcome outcome;
  std::vector<std::string> local;
  std::vector<std::string> remote;
};

class ResolveTest : public StoreTest {
 protected:
  void SetUp() override {
    add_domain("example.test");
    add_domain("example.org");
    add_domain("catch.test");
    add_domain("deep.test");
    add_user("alice@example.test");
    add_user("bob@example.test");
    add_user("carol@example.org");
    add_user("admin@catch.test");
    add_alias("info@example.test", {"alice@example.test", "bob@example.test"});
    add_alias("sales@example.test", {"info@example.test", "carol@example.org", "partner@remote.test"});
    add_alias("team@example.test", {"alice@example.test", "info@example.test"});  // alice twice
    add_alias("bob@example.test", {"bob@example.test", "carol@example.org"});  // copy + forward
    add_alias("fwd@example.org", {"someone@remote.test"});
    add_alias("@catch.test", {"admin@catch.test"});
    add_alias("alice+special@example.test", {"carol@example.org"});
    // A chain as deep as allowed: l2 -> l3 -> ... -> l12 (a user).
    add_user("l12@deep.test");
    for (int i = 11; i >= 2; --i) {
      add_alias("l" + std::to_string(i) + "@deep.test", {"l" + std::to_string(i + 1) + "@deep.test"});
    }
  }
};

TEST_F(ResolveTest, Table) {
  const Case cases[] = {
      {"exact user", "alice@example.test", Outcome::deliver, {"alice@example.test"}, {}},
      {"case-insensitive local part", "ALICE@example.test", Outcome::deliver, {"alice@example.test"}, {}},
      {"unknown user", "nobody@example.test", Outcome::unknown_user, {}, {}},
      {"domain not hosted", "x@elsewhere.test", Outcome::not_hosted, {}, {}},
      {"alias one to many", "info@example.test", Outcome::deliver, {"alice@example.test", "bob@example.test", "carol@example.org"}, {}},
      {"nested alias with remote target", "sales@example.test", Outcome::deliver,
       {"alice@example.test", "bob@example.test", "carol@example.org"}, {"partner@remote.test"}},
      {"duplicates removed", "team@example.test", Outcome::deliver, {"alice@example.test", "bob@example.test", "carol@example.org"}, {}},
      {"alias to itself keeps a copy", "bob@example.test", Outcome::deliver, {"bob@example.test", "carol@example.org"}, {}},
      {"alias to a remote address only", "fwd@example.org", Outcome::deliver, {}, {"someone@remote.test"}},
      {"plus address", "alice+news@example.test", Outcome::deliver, {"alice@example.test"}, {}},
      {"plus address of an alias", "info+x@example.test", Outcome::deliver, {"alice@example.test", "bob@example.test", "carol@example.org"}, {}},
      {"exact alias beats plus", "alice+special@example.test", Outcome::deliver, {"carol@example.org"}, {}},
      {"plus of unknown user", "nobody+x@example.test", Outcome::unknown_user, {}, {}},
      {"leading plus is not a tag", "+alice@example.test", Outcome::unknown_user, {}, {}},
      {"catch-all", "anything@catch.test", Outcome::deliver, {"admin@catch.test"}, {}},
      {"user beats catch-all", "admin@catch.test", Outcome::deliver, {"admin@catch.test"}, {}},
      {"at the depth limit", "l2@deep.test", Outcome::deliver, {"l12@deep.test"}, {}},
  };
  storage::ReadTxn txn(env());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = storage::resolve_recipient(txn, addr(c.recipient));
    EXPECT_EQ(r.outcome, c.outcome);
    EXPECT_EQ(r.local, c.local);
    EXPECT_EQ(r.remote, c.remote);
  }
}

// Sender ownership (submission) resolves without the catch-all; the rest of
// the resolution is the same.
TEST_F(ResolveTest, CatchAllIgnored) {
  const Case cases[] = {
      {"catch-all not used", "anything@catch.test", Outcome::unknown_user, {}, {}},
      {"plus address under a catch-all", "anything+x@catch.test", Outcome::unknown_user, {}, {}},
      {"the user itself", "admin@catch.test", Outcome::deliver, {"admin@catch.test"}, {}},
      {"aliases still expand", "info@example.test", Outcome::deliver,
       {"alice@example.test", "bob@example.test", "carol@example.org"}, {}},
      {"plus address", "alice+news@example.test", Outcome::deliver, {"alice@example.test"}, {}},
  };
  storage::ReadTxn txn(env());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto r = storage::resolve_recipient(txn, addr(c.recipient), storage::CatchAll::ignore);
    EXPECT_EQ(r.outcome, c.outcome);
    EXPECT_EQ(r.local, c.local);
    EXPECT_EQ(r.remote, c.remote);
  }
}

TEST_F(ResolveTest, ChainDeeperThanTheLimitIsRefused) {
  Status s = try_add_alias("l1@deep.test", {"l2@deep.test"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::alias_loop);
  EXPECT_NE(s.error().message.find("nested deeper than 10"), std::string::npos) << s.error().message;
}

TEST_F(ResolveTest, SelfAliasOfANonUserIsRefused) {
  Status s = try_add_alias("keep@example.test", {"keep@example.test"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::alias_loop);
  EXPECT_EQ(s.error().message, "alias loop: keep@example.test -> keep@example.test");
}

}  // namespace
}  // namespace aviary::test
