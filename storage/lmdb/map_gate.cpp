// map_gate.cpp - see map_gate.hpp.
#include "storage/lmdb/map_gate.hpp"

#include <algorithm>

namespace aviary::storage {

MapGate::Pass& MapGate::Pass::operator=(Pass&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = other.gate_;
    holder_ = other.holder_;
    other.gate_ = nullptr;
  }
  return *this;
}

void MapGate::Pass::release() noexcept {
  if (gate_) gate_->leave(holder_);
  gate_ = nullptr;
}

MapGate::Pass MapGate::enter() {
  auto self = std::this_thread::get_id();
  std::unique_lock lock(mutex_);
  bool nested = std::find(holders_.begin(), holders_.end(), self) != holders_.end();
  if (!nested) changed_.wait(lock, [this] { return !remapping_; });
  holders_.push_back(self);
  return Pass(this, self);
}

void MapGate::leave(std::thread::id holder) noexcept {
  std::lock_guard lock(mutex_);
  auto it = std::find(holders_.begin(), holders_.end(), holder);
  if (it != holders_.end()) holders_.erase(it);
  if (holders_.empty()) changed_.notify_all();
}

bool MapGate::held_by_this_thread() const {
  std::lock_guard lock(mutex_);
  return std::find(holders_.begin(), holders_.end(), std::this_thread::get_id()) != holders_.end();
}

MapGate::Outcome MapGate::exclusive(std::chrono::milliseconds patience, const std::function<void()>& remap) {
  std::unique_lock lock(mutex_);
  if (remapping_) {
    // Someone else adopts the new size; once done, the caller just retries.
    changed_.wait(lock, [this] { return !remapping_; });
    return Outcome::by_other;
  }
  remapping_ = true;  // from now on, only threads already holding a pass get in
  struct Reopen {
    MapGate& gate;
    std::unique_lock<std::mutex>& lock;
    ~Reopen() {
      if (!lock.owns_lock()) lock.lock();
      gate.remapping_ = false;
      gate.changed_.notify_all();
    }
  } reopen{*this, lock};
  if (!changed_.wait_for(lock, patience, [this] { return holders_.empty(); })) return Outcome::timed_out;
  // No pass is held and none can be taken while remapping_ is set (a
  // nested enter needs a pass already): the mutex is not needed meanwhile,
  // and a second remapper now sees remapping_ and waits for this one.
  lock.unlock();
  remap();
  return Outcome::done;
}

}  // namespace aviary::storage
