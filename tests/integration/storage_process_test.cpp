// storage_process_test.cpp - several processes on one store; processes killed
// after a commit and in the middle of one; a process whose map another
// process (configured with a bigger map_size) outgrows while it reads.
//
// Each child opens its own Env after fork (an LMDB environment must never
// cross a fork) and leaves with _exit so that no test state is torn down twice.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <thread>

#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/readers.hpp"
#include "storage/lmdb/writer.hpp"
#include "tests/support/store_fixture.hpp"

namespace aviary::test {
namespace {

using storage::ReadTxn;
using storage::WriteTxn;

constexpr std::uint64_t map_size = 256ull << 20;

storage::EnvOptions options(const TempDir& dir) { return {dir.file("store"), map_size}; }

Status append(WriteTxn& t, const std::string& rcpt, const std::string& body) {
  auto blob = storage::put_blob(t, body);
  auto uid = storage::append_message(t, rcpt, blob, "Delivered-To: " + rcpt + "\r\n", 0);
  return uid ? Status{} : Status{uid.error()};
}

void setup_store(const TempDir& dir, const std::vector<std::string>& users) {
  storage::Env env(options(dir));
  ASSERT_TRUE(storage::write_once(env, [&](WriteTxn& t) -> Status {
    if (auto s = storage::add_domain(t, "example.test"); !s) return s;
    for (const auto& u : users) {
      auto user = storage::add_user(t, addr(u), "$argon2id$x", 0);
      if (!user) return user.error();
    }
    return {};
  }).ok());
}

// Everything the mailbox says about itself agrees with what it holds.
void expect_consistent(storage::Env& env, const std::string& rcpt) {
  ReadTxn txn(env);
  auto stat = storage::mailbox_stat(txn, rcpt);
  ASSERT_TRUE(stat);
  auto messages = storage::list_messages(txn, rcpt);
  std::uint64_t bytes = 0;
  for (const auto& m : messages) {
    bytes += m.size;
    auto full = storage::read_message(txn, rcpt, m.uid);
    ASSERT_TRUE(full) << "message " << m.uid << " lost its body";
    EXPECT_EQ(full->size(), m.size);
    EXPECT_EQ(storage::blob_refcount(txn, m.blob_id), 1u);
  }
  EXPECT_EQ(stat->messages, messages.size());
  EXPECT_EQ(stat->bytes, bytes);
}

pid_t fork_child(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(StorageProcesses, TwoProcessesWriteTheSameStoreAtOnce) {
  TempDir dir;
  setup_store(dir, {"alice@example.test", "bob@example.test"});
  constexpr int per_process = 300;
  auto writer_process = [&](const std::string& rcpt) {
    return fork_child([&, rcpt] {
      storage::Env env(options(dir));
      storage::Writer writer(env);
      // Eight threads per process, so both group commit and LMDB's
      // inter-process write lock are exercised.
      std::vector<std::thread> threads;
      std::atomic<int> failures{0};
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
          for (int i = t; i < per_process; i += 8) {
            std::string body = "Subject: " + std::to_string(i) + "\r\n\r\n" + std::string(1000, 'x');
            if (!writer.run([&](WriteTxn& txn) { return append(txn, rcpt, body); }).ok()) ++failures;
          }
        });
      }
      for (auto& th : threads) th.join();
      if (failures) _exit(4);
    });
  };
  pid_t a = writer_process("alice@example.test");
  pid_t b = writer_process("bob@example.test");
  ASSERT_EQ(wait_exit(a), 0);
  ASSERT_EQ(wait_exit(b), 0);

  storage::Env env(options(dir));
  for (const char* rcpt : {"alice@example.test", "bob@example.test"}) {
    SCOPED_TRACE(rcpt);
    ReadTxn txn(env);
    EXPECT_EQ(storage::list_messages(txn, rcpt).size(), static_cast<std::size_t>(per_process));
    expect_consistent(env, rcpt);
  }
}

TEST(StorageProcesses, KilledRightAfterACommitKeepsTheData) {
  TempDir dir;
  setup_store(dir, {"alice@example.test"});
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork_child([&] {
    storage::Env env(options(dir));
    storage::Writer writer(env);
    if (!writer.run([](WriteTxn& t) { return append(t, "alice@example.test", "kept after SIGKILL"); }).ok()) _exit(4);
    char c = 'c';
    (void)!write(ready[1], &c, 1);  // the commit returned: tell the parent
    pause();
  });
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  kill(child, SIGKILL);
  EXPECT_EQ(wait_exit(child), 128 + SIGKILL);
  close(ready[0]);
  close(ready[1]);

  storage::Env env(options(dir));
  ReadTxn txn(env);
  auto messages = storage::list_messages(txn, "alice@example.test");
  ASSERT_EQ(messages.size(), 1u);
  auto full = storage::read_message(txn, "alice@example.test", messages[0].uid);
  EXPECT_NE(full->find("kept after SIGKILL"), std::string::npos);
}

TEST(StorageProcesses, KilledInTheMiddleOfAWriteLeavesNothingAndReleasesTheLock) {
  TempDir dir;
  setup_store(dir, {"alice@example.test"});
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork_child([&] {
    storage::Env env(options(dir));
    (void)storage::write_once(env, [&](WriteTxn& t) -> Status {
      // A large body and the mailbox entry are written but not committed.
      if (auto s = append(t, "alice@example.test", std::string(4 << 20, 'h')); !s) return s;
      char c = 'w';
      (void)!write(ready[1], &c, 1);
      pause();
      return {};
    });
  });
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  kill(child, SIGKILL);
  EXPECT_EQ(wait_exit(child), 128 + SIGKILL);
  close(ready[0]);
  close(ready[1]);

  storage::Env env(options(dir));
  {
    ReadTxn txn(env);
    EXPECT_TRUE(storage::list_messages(txn, "alice@example.test").empty());
    EXPECT_EQ(storage::mailbox_stat(txn, "alice@example.test")->bytes, 0u);
    EXPECT_FALSE(storage::blob_refcount(txn, 1));  // the half-written blob is not there
  }
  // The dead writer held LMDB's write lock; the next writer must get it.
  auto next = std::async(std::launch::async, [&] {
    return storage::write_once(env, [](WriteTxn& t) { return append(t, "alice@example.test", "after"); });
  });
  ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "write lock never released";
  EXPECT_TRUE(next.get().ok());
  expect_consistent(env, "alice@example.test");
}

TEST(StorageProcesses, KilledAtRandomMomentsUnderLoadStaysConsistent) {
  TempDir dir;
  setup_store(dir, {"alice@example.test"});
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork_child([&] {
      storage::Env env(options(dir));
      storage::Writer writer(env);
      char c = 'r';
      (void)!write(ready[1], &c, 1);
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
          for (int i = 0; i < 100000; ++i) {
            (void)writer.run([&](WriteTxn& txn) { return append(txn, "alice@example.test", std::string(3000 + i % 500, 'k')); });
          }
        });
      }
      for (auto& th : threads) th.join();
    });
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 37 * round));
    kill(child, SIGKILL);
    EXPECT_EQ(wait_exit(child), 128 + SIGKILL);
    close(ready[0]);
    close(ready[1]);
    storage::Env env(options(dir));
    expect_consistent(env, "alice@example.test");
  }
  storage::Env env(options(dir));
  ReadTxn txn(env);
  EXPECT_GT(storage::list_messages(txn, "alice@example.test").size(), 0u) << "the children never committed";
}

// A reader killed mid-transaction: its slot stays in lock.mdb, claiming a
// snapshot, until something clears it. The child opens a read transaction,
// says so and waits to be killed.
pid_t dead_reader(const storage::EnvOptions& where) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t child = fork_child([&] {
    storage::Env env(where);
    ReadTxn held(env);
    char c = 'r';
    (void)!write(ready[1], &c, 1);
    pause();
  });
  char c;
  if (read(ready[0], &c, 1) != 1) return -1;
  close(ready[0]);
  close(ready[1]);
  kill(child, SIGKILL);
  wait_exit(child);
  return child;
}

bool holds_slot(storage::Env& env, pid_t pid) {
  auto pids = storage::reader_pids(env);
  return std::find(pids.begin(), pids.end(), static_cast<long>(pid)) != pids.end();
}

// Issue 11 item 2: the writer clears dead readers' slots periodically.
TEST(StorageProcesses, WriterReapsDeadReadersPeriodically) {
  TempDir dir;
  setup_store(dir, {"alice@example.test"});
  storage::Env env(options(dir));  // open before the reader dies: opening reaps too
  storage::Writer writer(env, 1024, std::chrono::milliseconds(50));
  pid_t child = dead_reader(options(dir));
  ASSERT_GT(child, 0);
  // Whether the writer got to it already or not, it must within a second.
  for (int spins = 0; spins < 100 && holds_slot(env, child); ++spins) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(holds_slot(env, child)) << "the dead reader's slot was never cleared";
}

// Issue 11 item 2, as reproduced: 30 x 1 MiB delivered and deleted behind a
// dead reader, then "storage full" at message 33 of 40 in a 64 MiB map. The
// writer clears the dead slot before answering "storage full".
TEST(StorageProcesses, DeadReaderDoesNotMakeTheStoreFull) {
  TempDir dir;
  storage::EnvOptions small{dir.file("store"), 64ull << 20};
  {
    storage::Env env(small);
    ASSERT_TRUE(storage::write_once(env, [&](WriteTxn& t) -> Status {
      if (auto s = storage::add_domain(t, "example.test"); !s) return s;
      auto user = storage::add_user(t, addr("alice@example.test"), "$argon2id$x", 0);
      return user ? Status{} : Status{user.error()};
    }).ok());
  }
  storage::Env env(small);
  // Periodic reaping far away: this is about the check before "full".
  storage::Writer writer(env, 1024, std::chrono::hours(1));
  pid_t child = dead_reader(small);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(holds_slot(env, child));

  const std::string mib(1 << 20, 'm');
  auto deliver = [&] { return writer.run([&](WriteTxn& t) { return append(t, "alice@example.test", mib); }); };
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(deliver().ok()) << "message " << i;
    std::vector<std::uint32_t> uids;
    {
      ReadTxn txn(env);
      for (const auto& m : storage::list_messages(txn, "alice@example.test")) uids.push_back(m.uid);
    }
    ASSERT_TRUE(writer.run([&](WriteTxn& t) { return storage::delete_messages(t, "alice@example.test", uids); }).ok());
  }
  for (int i = 0; i < 40; ++i) {
    Status s = deliver();
    ASSERT_TRUE(s.ok()) << "message " << i + 1 << " of 40: " << s.error().message;
  }
  EXPECT_FALSE(holds_slot(env, child));
  expect_consistent(env, "alice@example.test");
}

// --- a map outgrown by another process (issue 11, item 1) -----------------

constexpr std::uint64_t small_map = 8ull << 20;
constexpr std::uint64_t big_map = 128ull << 20;

storage::EnvOptions sized(const TempDir& dir, std::uint64_t size,
                          std::chrono::milliseconds patience = std::chrono::milliseconds(5000)) {
  storage::EnvOptions o{dir.file("store"), size};
  o.remap_patience = patience;
  return o;
}

// A one-byte message between processes.
struct Signal {
  int fds[2] = {-1, -1};
  Signal() { (void)!pipe(fds); }
  ~Signal() {
    close(fds[0]);
    close(fds[1]);
  }
  void send() {
    char c = 's';
    (void)!write(fds[1], &c, 1);
  }
  bool wait() {
    char c;
    return read(fds[0], &c, 1) == 1;
  }
};

// Like wait_exit, but SIGKILLs a child that is still running after `limit`
// (a deadlock must fail the test, not hang it).
int wait_exit_within(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A store made with the small map: alice with one 1 MiB message (uid 1).
std::string small_store(const TempDir& dir) {
  std::string body;
  for (int i = 0; body.size() < (1u << 20); ++i) body += "line " + std::to_string(i) + " of the message being read\r\n";
  storage::Env env(sized(dir, small_map));
  EXPECT_TRUE(storage::write_once(env, [&](WriteTxn& t) -> Status {
    if (auto s = storage::add_domain(t, "example.test"); !s) return s;
    if (auto u = storage::add_user(t, addr("alice@example.test"), "$argon2id$x", 0); !u) return u.error();
    return append(t, "alice@example.test", body);
  }).ok());
  return body;
}

// The other process, configured with the big map: grows the data file well
// past the small map (LMDB records its map size in the store).
pid_t grower(const TempDir& dir, Signal& go) {
  return fork_child([&] {
    if (!go.wait()) _exit(2);
    storage::Env env(sized(dir, big_map));
    for (int i = 0; i < 3; ++i) {
      if (!storage::write_once(env, [&](WriteTxn& t) {
             return append(t, "alice@example.test", std::string(6 << 20, static_cast<char>('a' + i)));
           }).ok()) {
        _exit(4);
      }
    }
  });
}

TEST(StorageProcesses, ReadersAndAWriterSurviveAnotherProcessGrowingTheMap) {
  // Without the map gate, the first transaction that saw MDB_MAP_RESIZED
  // remapped under the other threads' feet: SIGSEGV/SIGBUS in the reader
  // process.
  TempDir dir;
  const std::string body = small_store(dir);
  Signal ready, go, grown;
  pid_t other = grower(dir, go);
  // Exit codes: 5 bytes differed, 6 a transaction failed, 7 never remapped,
  // 8 no read after the remap.
  pid_t reader = fork_child([&] {
    storage::Env env(sized(dir, small_map));
    storage::Writer writer(env);
    std::atomic<bool> stop{false};
    std::atomic<int> mismatches{0}, failures{0};
    std::atomic<long> reads{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&] {
        while (!stop) {
          try {
            ReadTxn txn(env);
            // A few reads per transaction: a thread is nearly always inside one.
            for (int k = 0; k < 4; ++k) {
              auto view = storage::view_message(txn, 1, 1);
              if (!view || view->body.size() != body.size() ||
                  std::memcmp(view->body.data(), body.data(), body.size()) != 0) {
                ++mismatches;
              }
              ++reads;
            }
          } catch (const storage::Failure&) {
            ++failures;
          }
        }
      });
    }
    threads.emplace_back([&] {  // the group-commit writer must remap too
      for (int i = 0; !stop; ++i) {
        if (!writer.run([&](WriteTxn& t) { return append(t, "alice@example.test", "small " + std::to_string(i)); }).ok()) {
          ++failures;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
    ready.send();
    if (!grown.wait()) _exit(2);
    long before = reads;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (reads < before + 200 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    bool read_after = reads >= before + 200;
    stop = true;
    for (auto& th : threads) th.join();
    if (mismatches) _exit(5);
    if (failures) _exit(6);
    if (env.map_size() < big_map) _exit(7);
    if (!read_after) _exit(8);
  });
  ASSERT_TRUE(ready.wait());
  go.send();
  EXPECT_EQ(wait_exit_within(other, std::chrono::seconds(60)), 0);
  grown.send();
  EXPECT_EQ(wait_exit_within(reader, std::chrono::seconds(60)), 0);

  storage::Env env(sized(dir, small_map));
  EXPECT_GE(env.map_size(), big_map) << "the store's recorded map size is adopted at open";
  ReadTxn txn(env);
  auto first = storage::read_message(txn, "alice@example.test", 1);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->ends_with(body));
  expect_consistent(env, "alice@example.test");
}

TEST(StorageProcesses, ARemapNeverWaitsForeverForTransactionsItCannotHave) {
  TempDir dir;
  small_store(dir);
  Signal ready, go, grown;
  pid_t other = grower(dir, go);
  // Exit codes: 5 a nested begin did not fail at once, 6 a begin on another
  // thread did not give up after its patience, 7 no remap once the old
  // transaction ended.
  pid_t reader = fork_child([&] {
    storage::Env env(sized(dir, small_map, std::chrono::milliseconds(300)));
    std::optional<ReadTxn> held(std::in_place, env);  // e.g. a view being sent
    ready.send();
    if (!grown.wait()) _exit(2);
    // This thread holds a transaction: remapping would wait for itself.
    auto t0 = std::chrono::steady_clock::now();
    try {
      ReadTxn nested(env);
      _exit(5);
    } catch (const storage::Failure& f) {
      if (std::string(f.what()).find("try again") == std::string::npos) _exit(5);
    }
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(200)) _exit(5);
    // Another thread: waits for `held` as long as its patience, then fails.
    auto other_thread = std::async(std::launch::async, [&] {
      auto started = std::chrono::steady_clock::now();
      try {
        ReadTxn txn(env);
        return false;
      } catch (const storage::Failure& f) {
        return std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(300) &&
               std::string(f.what()).find("stayed open for 300 ms") != std::string::npos;
      }
    });
    if (other_thread.wait_for(std::chrono::seconds(10)) != std::future_status::ready || !other_thread.get()) _exit(6);
    held.reset();
    try {
      ReadTxn txn(env);
      if (env.map_size() < big_map || !storage::view_message(txn, 1, 4)) _exit(7);
    } catch (const storage::Failure&) {
      _exit(7);
    }
  });
  ASSERT_TRUE(ready.wait());
  go.send();
  EXPECT_EQ(wait_exit_within(other, std::chrono::seconds(60)), 0);
  grown.send();
  EXPECT_EQ(wait_exit_within(reader, std::chrono::seconds(60)), 0);
}

}  // namespace
}  // namespace aviary::test
