// storage_bench.cpp - what group commit buys: 4 KiB messages appended with
// one commit each from one thread, versus group-committed from many
// concurrent requesters; and the raw fsync rate of the disk under the store.
//
//   build/bin/storage_bench [--benchmark_min_time=2]
// Set AVIARY_BENCH_DIR to put the store on another disk (default: $TMPDIR or /tmp).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/address.hpp"
#include "storage/lmdb/blob.hpp"
#include "storage/lmdb/directory.hpp"
#include "storage/lmdb/mailbox.hpp"
#include "storage/lmdb/writer.hpp"

namespace {

using namespace aviary;

const std::string body(4096, 'm');
const std::string rcpt = "bench@bench.test";

std::string bench_dir() {
  const char* dir = std::getenv("AVIARY_BENCH_DIR");
  if (!dir) dir = std::getenv("TMPDIR");
  std::string base = dir && *dir ? dir : "/tmp";
  return base + "/aviary-bench-" + std::to_string(getpid());
}

// One store for the whole run, with one user to append to.
struct Store {
  std::string path = bench_dir();
  std::unique_ptr<storage::Env> env;
  std::unique_ptr<storage::Writer> writer;
  std::atomic<std::uint64_t> batches{0}, batched{0}, commit_us{0};

  Store() {
    std::filesystem::remove_all(path);
    env = std::make_unique<storage::Env>(storage::EnvOptions{path, 8ull << 30});
    auto ok = storage::write_once(*env, [](storage::WriteTxn& t) -> Status {
      if (auto s = storage::add_domain(t, "bench.test"); !s) return s;
      auto u = storage::add_user(t, Address{"bench", "bench.test"}, "x", 0);
      return u ? Status{} : Status{u.error()};
    });
    if (!ok) std::abort();
    writer = std::make_unique<storage::Writer>(*env);
    writer->set_commit_observer([this](std::chrono::duration<double> elapsed, std::size_t n) {
      batches.fetch_add(1);
      batched.fetch_add(n);
      commit_us.fetch_add(static_cast<std::uint64_t>(elapsed.count() * 1e6));
    });
  }
  ~Store() {
    writer.reset();
    env.reset();
    std::filesystem::remove_all(path);
  }
};

// Every benchmark starts from an empty store, so that none pays for the
// data the one before it left behind.
std::unique_ptr<Store> current;
Store& store() { return *current; }
void fresh_store(const benchmark::State&) { current = std::make_unique<Store>(); }
void drop_store(const benchmark::State&) { current.reset(); }

Status append(storage::WriteTxn& t) {
  auto blob = storage::put_blob(t, body);
  auto uid = storage::append_message(t, rcpt, blob, "Delivered-To: bench@bench.test\r\n", 0);
  return uid ? Status{} : Status{uid.error()};
}

// Baseline: every message is its own transaction and its own fsync.
void BM_AppendOneCommitEach(benchmark::State& state) {
  auto& s = store();
  for (auto _ : state) {
    if (!storage::write_once(*s.env, append)) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendOneCommitEach)->Setup(fresh_store)->Teardown(drop_store)->UseRealTime()->MinTime(2.0);

// Each benchmark thread is one requester waiting for its own commit.
void BM_AppendGroupCommit(benchmark::State& state) {
  auto& s = store();
  if (state.thread_index() == 0) s.batches = s.batched = s.commit_us = 0;
  for (auto _ : state) {
    if (!s.writer->run(append)) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // Read by thread 0 after the run: how the writer grouped the requests.
    double b = static_cast<double>(s.batches.load());
    state.counters["batch"] = b > 0 ? static_cast<double>(s.batched.load()) / b : 0;
    state.counters["commit_ms"] = b > 0 ? static_cast<double>(s.commit_us.load()) / b / 1000 : 0;
  }
}
BENCHMARK(BM_AppendGroupCommit)->Setup(fresh_store)->Teardown(drop_store)->Threads(16)->Threads(64)->UseRealTime()->MinTime(2.0);

// The same, with requesters that are not OS threads: each has one request in
// flight and sends the next from its completion, the way the daemons'
// coroutines are resumed by a post instead of a thread wake-up. This is the
// writer's own capacity, without 64 threads sharing two cores.
void BM_AppendGroupCommitRequesters(benchmark::State& state) {
  auto& s = store();
  const auto requesters = static_cast<int>(state.range(0));
  constexpr int messages_per_round = 20000;
  for (auto _ : state) {
    std::mutex mutex;
    std::condition_variable finished;
    int sent = 0, done = 0, failed = 0;
    std::function<void()> send_next = [&] {
      s.writer->submit(append, [&](const Status& status) {
        std::lock_guard lock(mutex);
        ++done;
        if (!status) ++failed;
        if (sent < messages_per_round) {
          ++sent;
          send_next();
        } else if (done == messages_per_round) {
          finished.notify_one();
        }
      });
    };
    {
      std::unique_lock lock(mutex);
      for (int i = 0; i < requesters; ++i, ++sent) send_next();
      finished.wait(lock, [&] { return done == messages_per_round; });
    }
    if (failed) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations() * messages_per_round);
}
BENCHMARK(BM_AppendGroupCommitRequesters)->Setup(fresh_store)->Teardown(drop_store)->Arg(16)->Arg(64)->UseRealTime()->MinTime(2.0);

// The disk's ceiling: 4 KiB write + fdatasync, as many as it takes.
void BM_DiskFsync(benchmark::State& state) {
  std::string file = bench_dir() + ".fsync";
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  for (auto _ : state) {
    if (::pwrite(fd, body.data(), body.size(), 0) < 0 || ::fdatasync(fd) != 0) state.SkipWithError("fsync failed");
  }
  ::close(fd);
  ::unlink(file.c_str());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DiskFsync)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
