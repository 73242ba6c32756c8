// storage_directory_test.cpp - domains, users, aliases and the store itself.

#include "storage/lmdb/codec.hpp"
#include "storage/lmdb/txn.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::WriteTxn;

class DirectoryTest : public StoreTest {};

TEST_F(DirectoryTest, DomainsAddListDelete) {
  add_domain("example.test");
  add_domain("example.org");
  Status dup = try_write([](WriteTxn& t) { return storage::add_domain(t, "example.test"); });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::exists);
  EXPECT_EQ(dup.error().message, "domain example.test already exists");

  ReadTxn txn(env());
  auto domains = storage::list_domains(txn);
  ASSERT_EQ(domains.size(), 2u);
  EXPECT_EQ(domains[0].name, "example.org");
  EXPECT_EQ(domains[1].name, "example.test");
  EXPECT_TRUE(storage::is_hosted(txn, "example.test"));
  EXPECT_FALSE(storage::is_hosted(txn, "example.net"));
}

TEST_F(DirectoryTest, DomainDeleteNeedsForceWhileUsersRemain) {
  add_domain("example.test");
  add_domain("example.org");
  add_user("alice@example.test");
  add_user("bob@example.test");
  add_user("carol@example.org");
  add_alias("info@example.test", {"alice@example.test"});

  Status refused = try_write([](WriteTxn& t) { return storage::del_domain(t, "example.test", false); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::has_users);
  EXPECT_EQ(refused.error().message, "domain example.test still has 2 users (use --force)");

  write([](WriteTxn& t) { return storage::del_domain(t, "example.test", true); });
  ReadTxn txn(env());
  EXPECT_FALSE(storage::is_hosted(txn, "example.test"));
  EXPECT_TRUE(storage::list_users(txn, std::string_view("example.test")).empty());
  EXPECT_TRUE(storage::list_aliases(txn, std::string_view("example.test")).empty());
  // The other domain is untouched.
  EXPECT_EQ(storage::list_users(txn).size(), 1u);
  EXPECT_TRUE(storage::find_user(txn, std::string_view("carol@example.org")));
}

TEST_F(DirectoryTest, DeletingUnknownDomainIsNotFound) {
  Status s = try_write([](WriteTxn& t) { return storage::del_domain(t, "nowhere.test", true); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found);
  EXPECT_EQ(s.error().message, "unknown domain nowhere.test");
}

TEST_F(DirectoryTest, UsersAddFindUpdateDelete) {
  add_domain("example.test");
  Status unknown = try_write([](WriteTxn& t) -> Status {
    auto u = storage::add_user(t, addr("x@example.net"), "h", 0);
    return u ? Status{} : Status{u.error()};
  });
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "unknown domain example.net");

  add_user("Alice@example.test", 1000);
  Status dup = try_write([](WriteTxn& t) -> Status {
    auto u = storage::add_user(t, addr("ALICE@example.test"), "h", 0);
    return u ? Status{} : Status{u.error()};
  });
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::exists);
  EXPECT_EQ(dup.error().message, "user alice@example.test already exists");

  write([](WriteTxn& t) { return storage::set_password(t, addr("alice@example.test"), "$argon2id$new"); });
  write([](WriteTxn& t) { return storage::set_quota(t, addr("alice@example.test"), 5000); });
  {
    ReadTxn txn(env());
    auto user = storage::find_user(txn, addr("aLiCe@example.test"));
    ASSERT_TRUE(user);
    EXPECT_EQ(user->address, "alice@example.test");
    EXPECT_EQ(user->password_hash, "$argon2id$new");
    EXPECT_EQ(user->quota, 5000u);
    EXPECT_EQ(user->next_uid, 1u);
  }
  write([](WriteTxn& t) { return storage::del_user(t, addr("alice@example.test")); });
  Status gone = try_write([](WriteTxn& t) { return storage::del_user(t, addr("alice@example.test")); });
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::not_found);
}

TEST_F(DirectoryTest, UserIdsAreNeverReused) {
  add_domain("example.test");
  add_user("alice@example.test");
  std::uint64_t first;
  {
    ReadTxn txn(env());
    first = storage::find_user(txn, std::string_view("alice@example.test"))->id;
  }
  write([](WriteTxn& t) { return storage::del_user(t, addr("alice@example.test")); });
  add_user("alice@example.test");
  ReadTxn txn(env());
  EXPECT_GT(storage::find_user(txn, std::string_view("alice@example.test"))->id, first);
}

TEST_F(DirectoryTest, UsersListByDomain) {
  add_domain("a.test");
  add_domain("b.test");
  add_user("x@a.test");
  add_user("y@b.test");
  add_user("z@a.test");
  ReadTxn txn(env());
  auto a = storage::list_users(txn, std::string_view("a.test"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].address, "x@a.test");
  EXPECT_EQ(a[1].address, "z@a.test");
  EXPECT_EQ(storage::list_users(txn).size(), 3u);
}

TEST_F(DirectoryTest, AliasesMergeTargetsAndDelete) {
  add_domain("example.test");
  add_user("alice@example.test");
  add_user("bob@example.test");
  add_alias("team@example.test", {"alice@example.test"});
  add_alias("team@example.test", {"bob@example.test", "alice@example.test"});
  add_alias("@example.test", {"alice@example.test"});
  {
    ReadTxn txn(env());
    auto team = storage::find_alias(txn, addr("team@example.test"));
    ASSERT_TRUE(team);
    EXPECT_EQ(team->targets, (std::vector<std::string>{"alice@example.test", "bob@example.test"}));
    auto all = storage::list_aliases(txn, std::string_view("example.test"));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].source, "@example.test");  // the catch-all sorts first
    EXPECT_EQ(all[1].source, "team@example.test");
  }
  write([](WriteTxn& t) { return storage::del_alias(t, addr("team@example.test")); });
  Status again = try_write([](WriteTxn& t) { return storage::del_alias(t, addr("team@example.test")); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "no alias team@example.test");
}

TEST_F(DirectoryTest, AliasLoopsAreRefusedAndRolledBack) {
  add_domain("example.test");
  add_alias("a@example.test", {"b@example.test"});
  Status loop = try_add_alias("b@example.test", {"a@example.test"});
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, Errc::alias_loop);
  EXPECT_NE(loop.error().message.find("alias loop"), std::string::npos);
  ReadTxn txn(env());
  EXPECT_FALSE(storage::find_alias(txn, addr("b@example.test")));  // nothing half-stored
}

TEST_F(DirectoryTest, CatchAllLoopIsRefused) {
  add_domain("example.test");
  // nobody@ falls to the catch-all, which points back at nobody@.
  Status loop = try_add_alias("@example.test", {"nobody@example.test"});
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code, Errc::alias_loop);
}

TEST_F(DirectoryTest, AliasInUnknownDomainIsRefused) {
  Status s = try_add_alias("x@example.net", {"y@example.org"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "unknown domain example.net");
}

TEST(StoreEnv, ReopensExistingStore) {
  TempDir dir;
  {
    storage::Env env({dir.file("s"), 16 << 20});
    ASSERT_TRUE(storage::write_once(env, [](WriteTxn& t) { return storage::add_domain(t, "kept.test"); }).ok());
  }
  storage::Env env({dir.file("s"), 16 << 20});
  ReadTxn txn(env);
  EXPECT_TRUE(storage::is_hosted(txn, "kept.test"));
}

TEST(StoreEnv, RefusesNewerSchemaVersion) {
  TempDir dir;
  {
    storage::Env env({dir.file("s"), 16 << 20});
    ASSERT_TRUE(storage::write_once(env, [](WriteTxn& t) -> Status {
                  t.put(storage::Table::meta, storage::meta_schema_version, storage::be32(storage::schema_version + 1));
                  return {};
                }).ok());
  }
  try {
    storage::Env env({dir.file("s"), 16 << 20});
    FAIL() << "opened a store from the future";
  } catch (const storage::Failure& f) {
    EXPECT_EQ(std::string(f.what()), "store at " + dir.file("s") + " has schema version " +
                                         std::to_string(storage::schema_version + 1) +
                                         ", newer than this Aviary understands (" +
                                         std::to_string(storage::schema_version) + "): upgrade Aviary");
  }
}

TEST(StoreEnv, UnopenablePathIsAClearFailure) {
  TempDir dir;
  std::string file = dir.write("plain-file", "x");
  try {
    storage::Env env({file + "/store", 16 << 20});
    FAIL() << "opened a store below a regular file";
  } catch (const storage::Failure& f) {
    EXPECT_NE(std::string(f.what()).find("cannot create storage directory " + file + "/store"), std::string::npos) << f.what();
  }
}

TEST(StoreCodec, TruncatedRecordIsCorruption) {
  std::string bytes = storage::Encoder().u8(1).str("hello").take();
  storage::Decoder in(std::string_view(bytes).substr(0, 4), "test");
  in.version(1);
  EXPECT_THROW(in.str(), storage::Failure);
}

}  // namespace
}  // namespace aviary::test
