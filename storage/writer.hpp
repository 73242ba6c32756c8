// writer.hpp - group commit: one thread owns every write transaction.
//
// Callers hand in operations and wait; the writer runs everything pending in
// one transaction, commits once (one fsync) and hands each caller its own
// result. An operation that fails is taken out and the rest run again, so
// it is rolled back alone; operations must therefore be safe to run twice. Throughput grows with concurrency
// instead of being capped at one fsync per message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "common/result.hpp"
#include "storage/txn.hpp"

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

  explicit Writer(Env& env, std::size_t max_batch = 1024);
  ~Writer();  // finishes what was submitted, then joins
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

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
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> pending_;
  bool stopping_ = false;
  CommitObserver observer_;
  std::thread thread_;
};

// One operation in its own transaction on the calling thread (aviaryctl).
Status write_once(Env& env, const Writer::Op& op);

}  // namespace aviary::storage
