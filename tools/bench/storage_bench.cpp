// storage_bench.cpp - what group commit buys: 4 KiB messages appended with
// one commit each from one thread, versus group-committed from many
// concurrent requesters; and the raw fsync rate of the disk under the store.
//
//   build/bin/storage_bench [--benchmark_min_time=2]
// Set AVIARY_BENCH_DIR to put the store on another disk (default: $TMPDIR or /tmp).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/address.hpp"
#include "storage/blob.hpp"
#include "storage/directory.hpp"
#include "storage/mailbox.hpp"
#include "storage/writer.hpp"

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
  }
  ~Store() {
    writer.reset();
    env.reset();
    std::filesystem::remove_all(path);
  }
};

Store& store() {
  static Store s;
  return s;
}

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
BENCHMARK(BM_AppendOneCommitEach)->UseRealTime()->MinTime(2.0);

// Each benchmark thread is one requester waiting for its own commit.
void BM_AppendGroupCommit(benchmark::State& state) {
  auto& s = store();
  for (auto _ : state) {
    if (!s.writer->run(append)) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendGroupCommit)->Threads(16)->Threads(64)->UseRealTime()->MinTime(2.0);

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
