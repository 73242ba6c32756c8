// writer.hpp - group commit: one thread owns every write transaction.
//
// Callers hand in operations and wait; the writer runs everything pending in
// one transaction, commits once (one fsync) and hands each caller its own
// result. An operation that fails is rolled back alone: the operations that
// ran before it in the batch run once more and commit, the rest carry on in
// a new transaction. So every operation runs at most twice, and must be safe
// to run twice. Throughput grows with concurrency instead of being capped at
// one fsync per message.
//
// The writer thread also clears the reader slots of dead processes
// (readers.hpp) every `reap_interval`, and before it answers "storage full".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "common/result.hpp"
#include "storage/lmdb/txn.hpp"

namespace aviary::storage {

class Writer {
 public:
  // An operation returns an error (or throws Failure) to roll itself back.
  // It may run more than once: it must derive everything from the
  // transaction it is given and overwrite (not accumulate) its outputs.
  using Op = std::function<Status(WriteTxn&)>;
  // Called on the writer thread after the commit: keep it short, e.g. post
  // the result to the caller's executor.
  using Done = std::function<void(const Status&)>;
  using CommitObserver = std::function<void(std::chrono::duration<double> elapsed, std::size_t batch)>;

  explicit Writer(Env& env, std::size_t max_batch = 1024,
                  std::chrono::milliseconds reap_interval = std::chrono::seconds(5));
  ~Writer();  // stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Finishes what was submitted (every Done is called), then joins the
  // thread; later submissions are refused. Call it while whatever the Done
  // callbacks post to (an io_context) still exists. Idempotent.
  void stop();
  void submit(Op op, Done done);
  // Submits and blocks until committed: for threads that may block.
  Status run(Op op);

  // Told the duration and size of each committed batch (for metrics).
  void set_commit_observer(CommitObserver observer);

 private:
  struct Request {
    Op op;
    Done done;
  };
  void loop();
  void commit_batch(std::deque<Request>& batch);

  Env& env_;
  std::size_t max_batch_;
  std::chrono::milliseconds reap_interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> pending_;
  bool stopping_ = false;
  CommitObserver observer_;
  std::thread thread_;
};

// One operation in its own transaction on the calling thread (aviaryctl).
// On "storage full" it clears stale reader slots and, if there were any,
// runs the operation once more.
Status write_once(Env& env, const Writer::Op& op);

}  // namespace aviary::storage
