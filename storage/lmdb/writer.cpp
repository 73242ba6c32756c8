// writer.cpp - the group-commit writer thread (see writer.hpp).
#include "storage/lmdb/writer.hpp"

#include <optional>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "storage/lmdb/readers.hpp"

namespace aviary::storage {
namespace {

// Runs one operation; a throw is that operation's failure, nobody else's.
Status run_op(const Writer::Op& op, WriteTxn& txn) {
  try {
    return op(txn);
  } catch (const Failure& failure) {
    return failure.error();
  } catch (const std::exception& e) {
    return Error{Errc::storage, e.what()};
  }
}

// One operation in its own transaction, run exactly once.
Status run_alone(Env& env, const Writer::Op& op) {
  try {
    WriteTxn txn(env);
    Status status = run_op(op, txn);
    if (status) txn.commit();
    return status;
  } catch (const Failure& failure) {
    return failure.error();
  }
}

bool is_full(const Status& status) { return !status && status.error().code == Errc::storage_full; }

// The operations of one batch, with how often each has run. An operation
// runs at most twice (writer.hpp): once in a transaction that may be
// abandoned because a later one failed, once more in the transaction that
// commits. Before this bound, 400 operations of which 200 failed ran 20,500
// times, all under LMDB's write lock.
class Batch {
 public:
  static constexpr int max_runs = 2;

  Batch(Env& env, std::deque<Writer::Op>& ops) : env_(env), ops_(ops), results_(ops.size()), runs_(ops.size(), 0) {}

  void commit_all() {
    std::size_t from = 0;
    while (from < ops_.size()) {
      std::size_t failed = 0;
      try {
        failed = run_until_failure(from);
      } catch (const Failure& failure) {
        // Beginning or committing failed: every operation for itself.
        log::warning("storage: batch commit failed (", failure.what(), "); committing one by one");
        for (std::size_t i = from; i < ops_.size(); ++i) finish_alone(i, failure.error());
        return;
      }
      if (failed == ops_.size()) return;  // committed
      // A stale reader may pin the pages this operation needs: clear the
      // slots and, if there were any, let it try once more.
      bool retry = is_full(results_[failed]) && reap_stale_readers(env_) > 0;
      // The ones before it succeeded on a clean state: again, and commit.
      if (failed > from) commit_again(from, failed);
      if (retry) finish_alone(failed, results_[failed]);
      from = failed + 1;
    }
  }

  Status& result(std::size_t i) { return results_[i]; }

 private:
  Status run(std::size_t i, WriteTxn& txn) {
    ++runs_[i];
    return results_[i] = run_op(ops_[i], txn);
  }

  // Runs from `from` in one transaction until an operation fails; commits if
  // none did (returns the size), else abandons the transaction and returns
  // the failed one. Throws Failure if beginning or committing fails.
  std::size_t run_until_failure(std::size_t from) {
    WriteTxn txn(env_);
    for (std::size_t i = from; i < ops_.size(); ++i) {
      if (!run(i, txn)) return i;
    }
    txn.commit();
    return ops_.size();
  }

  // Runs [from, to) a second time and commits. They saw this state a moment
  // ago, so they succeed again unless another process wrote in between; then
  // the ones that already ran twice are told to try again.
  void commit_again(std::size_t from, std::size_t to) {
    try {
      WriteTxn txn(env_);
      for (std::size_t i = from; i < to; ++i) {
        if (run(i, txn)) continue;
        for (std::size_t j = from; j < i; ++j) {
          results_[j] = Error{Errc::storage, "storage: the store changed during the commit; try again"};
        }
        for (std::size_t j = i + 1; j < to; ++j) finish_alone(j, results_[j]);
        return;
      }
      txn.commit();
    } catch (const Failure& failure) {
      for (std::size_t i = from; i < to; ++i) finish_alone(i, failure.error());
    }
  }

  // Its own transaction if it may run again, else `otherwise`.
  void finish_alone(std::size_t i, const Status& otherwise) {
    if (runs_[i] >= max_runs) {
      results_[i] = otherwise;
      return;
    }
    ++runs_[i];
    results_[i] = run_alone(env_, ops_[i]);
  }

  Env& env_;
  std::deque<Writer::Op>& ops_;
  std::vector<Status> results_;
  std::vector<int> runs_;
};

}  // namespace

Status write_once(Env& env, const Writer::Op& op) {
  Status status = run_alone(env, op);
  if (is_full(status) && reap_stale_readers(env) > 0) status = run_alone(env, op);
  return status;
}

Writer::Writer(Env& env, std::size_t max_batch, std::chrono::milliseconds reap_interval)
    : env_(env), max_batch_(max_batch), reap_interval_(reap_interval), thread_([this] { loop(); }) {}

Writer::~Writer() { stop(); }

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::submit(Op op, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      pending_.push_back(Request{std::move(op), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  // Shutting down: the thread may be gone, so nothing would ever run it.
  if (done) done(Error{Errc::storage, "storage: shutting down"});
}

Status Writer::run(Op op) {
  // Lighter than a promise: no shared state to allocate. The writer sets the
  // result and notifies while holding the lock, so the waiter cannot return
  // (and destroy these) before the writer is done with them.
  struct Waiter {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<Status> status;
  } waiter;
  submit(std::move(op), [&waiter](const Status& status) {
    std::lock_guard lock(waiter.mutex);
    waiter.status = status;
    waiter.ready.notify_one();
  });
  std::unique_lock lock(waiter.mutex);
  waiter.ready.wait(lock, [&] { return waiter.status.has_value(); });
  return *waiter.status;
}

void Writer::set_commit_observer(CommitObserver observer) {
  std::lock_guard lock(mutex_);
  observer_ = std::move(observer);
}

void Writer::loop() {
  auto next_reap = std::chrono::steady_clock::now() + reap_interval_;
  for (;;) {
    std::deque<Request> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_reap, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_ && pending_.empty()) return;  // nothing left to do
      while (!pending_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    if (std::chrono::steady_clock::now() >= next_reap) {
      reap_stale_readers(env_);
      next_reap = std::chrono::steady_clock::now() + reap_interval_;
    }
    if (!batch.empty()) commit_batch(batch);
  }
}

void Writer::commit_batch(std::deque<Request>& requests) {
  auto started = std::chrono::steady_clock::now();
  // Every operation runs directly in the batch transaction: LMDB's nested
  // transactions cost a 2 MiB allocation each.
  std::deque<Op> ops;
  for (auto& r : requests) ops.push_back(std::move(r.op));
  Batch batch(env_, ops);
  batch.commit_all();

  CommitObserver observer;
  {
    std::lock_guard lock(mutex_);
    observer = observer_;
  }
  if (observer) observer(std::chrono::steady_clock::now() - started, requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].done) requests[i].done(batch.result(i));
  }
}

}  // namespace aviary::storage
