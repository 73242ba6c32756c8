// writer.cpp - the group-commit writer thread (see writer.hpp).
#include "storage/writer.hpp"

#include <optional>
#include <utility>
#include <vector>

#include "common/log.hpp"

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

}  // namespace

Status write_once(Env& env, const Writer::Op& op) {
  try {
    WriteTxn txn(env);
    Status status = run_op(op, txn);
    if (status) txn.commit();
    return status;
  } catch (const Failure& failure) {
    return failure.error();
  }
}

Writer::Writer(Env& env, std::size_t max_batch)
    : env_(env), max_batch_(max_batch), thread_([this] { loop(); }) {}

Writer::~Writer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Writer::submit(Op op, Done done) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(Request{std::move(op), std::move(done)});
  }
  wake_.notify_one();
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
  for (;;) {
    std::deque<Request> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and nothing left to do
      while (!pending_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    commit_batch(batch);
  }
}

void Writer::commit_batch(std::deque<Request>& batch) {
  auto started = std::chrono::steady_clock::now();
  std::vector<Status> results(batch.size());
  std::vector<bool> settled(batch.size(), false);  // failed alone: out of the batch
  // Every operation runs directly in the batch transaction: LMDB's nested
  // transactions cost a 2 MiB allocation each. When one fails, the
  // transaction is abandoned and the batch runs again without it, so a
  // failure never leaves its partial writes behind nor fails the others.
  // Operations are therefore re-runnable: they read the state they act on.
  for (bool done = false; !done;) {
    try {
      WriteTxn txn(env_);
      done = true;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (settled[i]) continue;
        results[i] = run_op(batch[i].op, txn);
        if (!results[i]) {
          settled[i] = true;
          done = false;
          break;
        }
      }
      if (done) txn.commit();
    } catch (const Failure& failure) {
      // Beginning or committing the batch failed: run each operation alone so
      // that one which cannot fit fails by itself.
      log::warning("storage: batch commit failed (", failure.what(), "); committing one by one");
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!settled[i]) results[i] = write_once(env_, batch[i].op);
      }
      done = true;
    }
  }

  CommitObserver observer;
  {
    std::lock_guard lock(mutex_);
    observer = observer_;
  }
  if (observer) observer(std::chrono::steady_clock::now() - started, batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) batch[i].done(results[i]);
  }
}

}  // namespace aviary::storage
