// commit.cpp - see commit.hpp.
#include "service/commit.hpp"

#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <memory>

namespace aviary::service {

asio::awaitable<Status> commit(const Write& start) {
  auto executor = co_await asio::this_coro::executor;
  // A named initiation: GCC 12 mishandles lambda temporaries in co_await.
  auto initiation = [&start, executor](auto handler) {
    // The work guard keeps the io_context running while the store works.
    struct Pending {
      decltype(handler) resume;
      asio::executor_work_guard<decltype(executor)> work;
    };
    auto pending = std::make_shared<Pending>(Pending{std::move(handler), asio::make_work_guard(executor)});
    start([pending](const Status& status) {
      auto ex = pending->work.get_executor();
      asio::post(ex, [pending, status]() mutable {
        std::move(pending->resume)(status);
        pending->work.reset();
      });
    });
  };
  Status status = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Status)>(initiation, asio::use_awaitable);
  co_return status;
}

}  // namespace aviary::service
