// offload.hpp - running blocking or CPU-heavy work (Argon2) off the I/O threads.
#pragma once

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <memory>

namespace aviary::service {

// Runs fn() on `pool`, resumes the coroutine on its own executor with the result.
// (The initiation is a named local: GCC 12 mishandles the destruction of
// lambda temporaries inside co_await expressions.)
// `fn` is taken from the caller; pass a named object (see commit.hpp).
template <class Result, class Fn>
asio::awaitable<Result> offload(asio::thread_pool& pool, Fn& fn) {
  auto executor = co_await asio::this_coro::executor;
  auto initiation = [&pool, executor, &fn](auto handler) {
    auto work = asio::make_work_guard(executor);
    asio::post(pool, [handler = std::move(handler), work = std::move(work), fn = std::move(fn)]() mutable {
      Result result = fn();
      auto ex = work.get_executor();
      asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    });
  };
  Result result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(initiation, asio::use_awaitable);
  co_return result;
}

}  // namespace aviary::service
