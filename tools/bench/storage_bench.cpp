// storage_bench.cpp - what group commit buys: 4 KiB messages delivered to a
// mailbox through storage::Store (as the daemons do) with one commit each
// from one thread, versus group-committed from many concurrent requesters;
// and the raw fsync rate of the disk under the store.
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
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "common/address.hpp"
#include "storage/lmdb/lmdb_store.hpp"

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

// One store for the whole run, with one user to deliver to.
struct Bench {
  std::string path = bench_dir();
  std::unique_ptr<storage::Store> store;
  std::atomic<std::uint64_t> batches{0}, batched{0}, commit_us{0};

  Bench() {
    std::filesystem::remove_all(path);
    store = std::make_unique<storage::LmdbStore>(storage::EnvOptions{path, 8ull << 30});
    if (!storage::wait_for([&](storage::Done done) { store->add_domain("bench.test", done); })) std::abort();
    if (!storage::wait_for([&](storage::Done done) { store->add_user(Address{"bench", "bench.test"}, "x", 0, done); })) {
      std::abort();
    }
    store->set_commit_observer([this](std::chrono::duration<double> elapsed, std::size_t n) {
      batches.fetch_add(1);
      batched.fetch_add(n);
      commit_us.fetch_add(static_cast<std::uint64_t>(elapsed.count() * 1e6));
    });
  }
  ~Bench() {
    store.reset();
    std::filesystem::remove_all(path);
  }
};

// Every benchmark starts from an empty store, so that none pays for the
// data the one before it left behind.
std::unique_ptr<Bench> current;
Bench& bench() { return *current; }
void fresh_store(const benchmark::State&) { current = std::make_unique<Bench>(); }
void drop_store(const benchmark::State&) { current.reset(); }

// One 4 KiB message for the one user; the request is the same every time.
const std::shared_ptr<const storage::Delivery> message = [] {
  auto d = std::make_shared<storage::Delivery>();
  d->id = "BENCH";
  d->local = {rcpt};
  d->size = body.size();
  d->fill = [](std::span<char> out) { std::memcpy(out.data(), body.data(), body.size()); };
  return d;
}();

void append(storage::Store& store, storage::Done done) { store.deliver(message, std::move(done)); }

Status append(storage::Store& store) {
  return storage::wait_for([&](storage::Done done) { append(store, std::move(done)); });
}

// Baseline: every message is its own transaction and its own fsync (one
// requester, so the writer never has two to batch).
void BM_AppendOneCommitEach(benchmark::State& state) {
  auto& s = bench();
  for (auto _ : state) {
    if (!append(*s.store)) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendOneCommitEach)->Setup(fresh_store)->Teardown(drop_store)->UseRealTime()->MinTime(2.0);

// Each benchmark thread is one requester waiting for its own commit.
void BM_AppendGroupCommit(benchmark::State& state) {
  auto& s = bench();
  if (state.thread_index() == 0) s.batches = s.batched = s.commit_us = 0;
  for (auto _ : state) {
    if (!append(*s.store)) state.SkipWithError("append failed");
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
  auto& s = bench();
  const auto requesters = static_cast<int>(state.range(0));
  constexpr int messages_per_round = 20000;
  for (auto _ : state) {
    std::mutex mutex;
    std::condition_variable finished;
    int sent = 0, done = 0, failed = 0;
    std::function<void()> send_next = [&] {
      append(*s.store, [&](const Status& status) {
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
