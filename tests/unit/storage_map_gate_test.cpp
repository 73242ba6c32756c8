// storage_map_gate_test.cpp - the gate that lets the LMDB map move only while
// no transaction uses it: exclusive remaps, nested passes, bounded waits.
#include "storage/lmdb/map_gate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace aviary::test {
namespace {

using namespace std::chrono_literals;
using storage::MapGate;

TEST(MapGate, RemapRunsOnlyOnceEveryPassIsBack) {
  MapGate gate;
  auto pass = std::make_unique<MapGate::Pass>(gate.enter());
  std::atomic<bool> remapped{false};
  auto remapper = std::async(std::launch::async, [&] {
    return gate.exclusive(5s, [&] { remapped = true; });
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(remapped) << "remapped while a pass was held";
  pass.reset();
  EXPECT_EQ(remapper.get(), MapGate::Outcome::done);
  EXPECT_TRUE(remapped);
}

TEST(MapGate, NewPassesWaitWhileARemapIsUnderWay) {
  MapGate gate;
  std::promise<void> inside;
  std::promise<void> finish;
  auto remapper = std::async(std::launch::async, [&] {
    return gate.exclusive(5s, [&] {
      inside.set_value();
      finish.get_future().wait();
    });
  });
  inside.get_future().wait();
  std::atomic<bool> entered{false};
  auto reader = std::async(std::launch::async, [&] {
    MapGate::Pass pass = gate.enter();
    entered = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(entered) << "a transaction began while the map was moving";
  finish.set_value();
  EXPECT_EQ(remapper.get(), MapGate::Outcome::done);
  reader.get();
  EXPECT_TRUE(entered);
}

TEST(MapGate, AThreadHoldingAPassIsNotHeldUpByAWaitingRemap) {
  // The deadlock the gate must not have: this thread holds a pass, a remap
  // waits for it, and this thread begins a second transaction.
  MapGate gate;
  MapGate::Pass outer = gate.enter();
  auto remapper = std::async(std::launch::async, [&] { return gate.exclusive(5s, [] {}); });
  std::this_thread::sleep_for(50ms);  // the remapper is waiting now
  auto t0 = std::chrono::steady_clock::now();
  {
    MapGate::Pass inner = gate.enter();
    EXPECT_TRUE(gate.held_by_this_thread());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "a nested pass waited for the remap";
  EXPECT_TRUE(gate.held_by_this_thread());
  outer.release();
  EXPECT_FALSE(gate.held_by_this_thread());
  EXPECT_EQ(remapper.get(), MapGate::Outcome::done);
}

TEST(MapGate, RemapGivesUpAfterItsPatienceAndOpensTheGateAgain) {
  MapGate gate;
  std::promise<void> holding;
  std::promise<void> done;
  auto holder = std::async(std::launch::async, [&] {
    MapGate::Pass pass = gate.enter();
    holding.set_value();
    done.get_future().wait();
  });
  holding.get_future().wait();
  bool ran = false;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(gate.exclusive(100ms, [&] { ran = true; }), MapGate::Outcome::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_FALSE(ran);
  // Not left closed: a new pass gets in at once.
  auto reader = std::async(std::launch::async, [&] { MapGate::Pass pass = gate.enter(); });
  EXPECT_EQ(reader.wait_for(2s), std::future_status::ready);
  done.set_value();
  holder.get();
  EXPECT_EQ(gate.exclusive(1s, [&] { ran = true; }), MapGate::Outcome::done);
  EXPECT_TRUE(ran);
}

TEST(MapGate, ASecondRemapperWaitsForTheFirstAndDoesNotRemapAgain) {
  MapGate gate;
  std::promise<void> inside;
  std::promise<void> finish;
  int remaps = 0;
  auto first = std::async(std::launch::async, [&] {
    return gate.exclusive(5s, [&] {
      ++remaps;
      inside.set_value();
      finish.get_future().wait();
    });
  });
  inside.get_future().wait();
  auto second = std::async(std::launch::async, [&] { return gate.exclusive(5s, [&] { ++remaps; }); });
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  finish.set_value();
  EXPECT_EQ(first.get(), MapGate::Outcome::done);
  EXPECT_EQ(second.get(), MapGate::Outcome::by_other);
  EXPECT_EQ(remaps, 1);
}

TEST(MapGate, AFailedRemapOpensTheGateAgain) {
  MapGate gate;
  EXPECT_THROW(gate.exclusive(1s, [] { throw std::runtime_error("mmap failed"); }), std::runtime_error);
  auto reader = std::async(std::launch::async, [&] { MapGate::Pass pass = gate.enter(); });
  EXPECT_EQ(reader.wait_for(2s), std::future_status::ready);
}

TEST(MapGate, APassMovedToAnotherThreadIsReturnedThere) {
  // MDB_NOTLS read transactions may change threads: the pass goes with them.
  MapGate gate;
  MapGate::Pass pass = gate.enter();
  std::thread([p = std::move(pass)]() mutable { p.release(); }).join();
  EXPECT_FALSE(gate.held_by_this_thread());
  EXPECT_EQ(gate.exclusive(1s, [] {}), MapGate::Outcome::done);
}

}  // namespace
}  // namespace aviary::test
