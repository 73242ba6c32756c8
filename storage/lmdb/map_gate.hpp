// map_gate.hpp - lets the LMDB map move only while no transaction uses it.
//
// When another process grows the store past this process's map (it has a
// bigger storage.map_size), LMDB answers MDB_MAP_RESIZED and the map must be
// remapped with mdb_env_set_mapsize, which LMDB allows only while no
// transaction of the process is active: every page pointer into the old map,
// in any thread, dies with it. So every transaction holds a Pass for its
// whole life, and the remap runs exclusively, once every pass is returned.
//
// Deadlock-free by construction: a thread that already holds a pass never
// waits for a remap (the remap waits for it), a thread holding a pass never
// remaps (it would wait for itself), and the remap waits a bounded time for
// the passes to come back; if they do not, it gives up and the transaction
// that needed it fails with a temporary storage error instead of hanging.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace aviary::storage {

class MapGate {
 public:
  // One transaction's permission to use the map. Movable (a read
  // transaction may change threads); returned when destroyed or released.
  class Pass {
   public:
    Pass() = default;
    Pass(Pass&& other) noexcept : gate_(other.gate_), holder_(other.holder_) { other.gate_ = nullptr; }
    Pass& operator=(Pass&& other) noexcept;
    ~Pass() { release(); }
    void release() noexcept;
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    friend class MapGate;
    Pass(MapGate* gate, std::thread::id holder) : gate_(gate), holder_(holder) {}
    MapGate* gate_ = nullptr;
    std::thread::id holder_;  // the thread that entered
  };

  // Waits while a remap is under way, unless this thread holds a pass
  // already (the remap is waiting for that pass: waiting here would deadlock).
  Pass enter();

  // True if the calling thread holds a pass.
  bool held_by_this_thread() const;

  enum class Outcome {
    done,       // `remap` ran with no pass held anywhere
    by_other,   // another thread was remapping; it has finished
    timed_out,  // passes were still held after `patience`: nothing ran
  };
  // Runs `remap` once no pass is held, keeping new passes out meanwhile.
  // Must not be called by a thread that holds a pass (use
  // held_by_this_thread() first). Exceptions from `remap` propagate after
  // the gate is opened again.
  Outcome exclusive(std::chrono::milliseconds patience, const std::function<void()>& remap);

 private:
  void leave(std::thread::id holder) noexcept;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread::id> holders_;  // one entry per pass held
  bool remapping_ = false;
};

}  // namespace aviary::storage
