// transport/spin_then_lock: takes a free mutex at once, waits for a held one (past the spin
// bound too), and gives mutual exclusion under contention.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "transport/spin_then_lock.h"

namespace tmc::transport {
namespace {

using namespace std::chrono_literals;

TEST(SpinThenLock, TakesAFreeMutex) {
  std::mutex mutex;
  std::unique_lock lock(mutex, std::defer_lock);
  spin_then_lock(lock);
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_FALSE(mutex.try_lock());
}

TEST(SpinThenLock, WaitsBeyondTheSpinForALongHolder) {
  std::mutex mutex;
  std::atomic<bool> released{false};
  std::unique_lock held(mutex);
  std::thread holder([&] {
    std::this_thread::sleep_for(20ms);  // far longer than kLockSpin
    released = true;
    held.unlock();
  });
  std::unique_lock lock(mutex, std::defer_lock);
  spin_then_lock(lock);
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_TRUE(released.load()) << "acquired while the other thread still held it";
  holder.join();
}

TEST(SpinThenLock, ExcludesUnderContention) {
  std::mutex mutex;
  long counter = 0;
  auto work = [&] {
    for (int i = 0; i < 20000; ++i) {
      std::unique_lock lock(mutex, std::defer_lock);
      spin_then_lock(lock);
      ++counter;
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(counter, 40000);
}

}  // namespace
}  // namespace tmc::transport
