// store.cpp - see store.hpp.
#include "storage/store.hpp"

#include <future>

namespace aviary::storage {

Status wait_for(const std::function<void(Done)>& start) {
  std::promise<Status> committed;
  auto result = committed.get_future();
  start([&committed](const Status& status) { committed.set_value(status); });
  return result.get();
}

}  // namespace aviary::storage
