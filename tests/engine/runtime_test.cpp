// transport/runtime: fd handlers run on the runtime thread; post(fd) runs the fd's handler with
// kPosted before the loop sleeps again — from another thread (waking the loop) and from a
// handler (no wake-up needed); posts not yet run are merged; a removed fd's post is dropped.
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "transport/fd_util.h"
#include "transport/runtime_impl.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

transport::UniqueFd make_eventfd() {
  return transport::UniqueFd(transport::make_engine_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
}

// Waits (bounded) until `predicate` holds.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

TEST(Runtime, PostFromAnotherThreadRunsTheHandlerOnTheRuntimeThreadWithKPosted) {
  Runtime runtime;
  auto& loop = runtime.impl();
  auto fd = make_eventfd();
  std::atomic<int> posted{0}, readable{0};
  std::atomic<bool> on_runtime{false};
  loop.add(fd.get(), EPOLLIN, [&](std::uint32_t events) {
    if (events & Runtime::Impl::kPosted) {
      on_runtime = loop.on_runtime_thread();
      ++posted;
    }
    if (events & EPOLLIN) ++readable;
  });
  std::this_thread::sleep_for(20ms);  // the loop is asleep in epoll_wait
  loop.post(fd.get());
  ASSERT_TRUE(eventually([&] { return posted.load() == 1; }));
  EXPECT_TRUE(on_runtime.load());
  EXPECT_EQ(readable.load(), 0);  // kPosted is not reported as readiness
  loop.remove(fd.get());
}

TEST(Runtime, EveryPostFromAnotherThreadIsFollowedByARun) {
  Runtime runtime;
  auto& loop = runtime.impl();
  auto fd = make_eventfd();
  std::atomic<int> runs{0};
  std::atomic<int> seen_marker{0};
  std::atomic<int> marker{0};
  loop.add(fd.get(), EPOLLIN, [&](std::uint32_t) {
    ++runs;
    seen_marker = marker.load();
  });
  // However the posts interleave with the loop going to sleep, the last one is never lost.
  for (int i = 1; i <= 2000; ++i) {
    marker = i;
    loop.post(fd.get());
    if (i % 100 == 0) ASSERT_TRUE(eventually([&] { return seen_marker.load() == i; })) << i;
  }
  EXPECT_LE(runs.load(), 2000);
  loop.remove(fd.get());
}

TEST(Runtime, PostsNotYetRunAreMerged) {
  Runtime runtime;
  auto& loop = runtime.impl();
  auto blocker = make_eventfd(), fd = make_eventfd();
  std::mutex gate;
  std::unique_lock hold(gate);  // keeps the runtime busy in the blocker's handler
  std::atomic<bool> blocked{false};
  std::atomic<int> runs{0};
  loop.add(blocker.get(), EPOLLIN, [&](std::uint32_t) {
    std::uint64_t value;
    [[maybe_unused]] auto got = ::read(blocker.get(), &value, sizeof value);
    blocked = true;
    std::lock_guard wait(gate);
  });
  loop.add(fd.get(), EPOLLIN, [&](std::uint32_t events) {
    if (events & Runtime::Impl::kPosted) ++runs;
  });
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(blocker.get(), &one, sizeof one), 8);
  ASSERT_TRUE(eventually([&] { return blocked.load(); }));
  for (int i = 0; i < 10; ++i) loop.post(fd.get());
  hold.unlock();
  ASSERT_TRUE(eventually([&] { return runs.load() >= 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(runs.load(), 1);
  loop.remove(blocker.get());
  loop.remove(fd.get());
}

TEST(Runtime, PostFromAHandlerRunsBeforeTheLoopSleeps) {
  Runtime runtime;
  auto& loop = runtime.impl();
  auto trigger = make_eventfd(), target = make_eventfd();
  std::atomic<int> target_runs{0};
  loop.add(trigger.get(), EPOLLIN, [&](std::uint32_t) {
    std::uint64_t value;
    [[maybe_unused]] auto got = ::read(trigger.get(), &value, sizeof value);
    loop.post(target.get());
  });
  loop.add(target.get(), EPOLLIN, [&](std::uint32_t events) {
    if (events & Runtime::Impl::kPosted) ++target_runs;
  });
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(trigger.get(), &one, sizeof one), 8);
  ASSERT_TRUE(eventually([&] { return target_runs.load() == 1; }));
  loop.remove(trigger.get());
  loop.remove(target.get());
}

TEST(Runtime, APostOfARemovedFdIsDropped) {
  Runtime runtime;
  auto& loop = runtime.impl();
  auto blocker = make_eventfd(), fd = make_eventfd();
  std::mutex gate;
  std::unique_lock hold(gate);
  std::atomic<bool> blocked{false};
  std::atomic<int> runs{0};
  loop.add(blocker.get(), EPOLLIN, [&](std::uint32_t) {
    std::uint64_t value;
    [[maybe_unused]] auto got = ::read(blocker.get(), &value, sizeof value);
    blocked = true;
    std::lock_guard wait(gate);
    loop.remove(fd.get());  // on the runtime thread: removal while the post is pending
  });
  loop.add(fd.get(), EPOLLIN, [&](std::uint32_t) { ++runs; });
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(blocker.get(), &one, sizeof one), 8);
  ASSERT_TRUE(eventually([&] { return blocked.load(); }));
  loop.post(fd.get());
  hold.unlock();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs.load(), 0);
  loop.remove(blocker.get());
}

// TMC_BUSY_POLL_US: off unless set to a number of microseconds, capped, garbage refused.
TEST(Runtime, BusyPollIsOffUnlessConfiguredCappedAndGarbageIsRefused) {
  ::unsetenv("TMC_BUSY_POLL_US");
  EXPECT_EQ(Runtime::Impl::configured_busy_poll(), core::Duration::zero());
  ::setenv("TMC_BUSY_POLL_US", "50", 1);
  EXPECT_EQ(Runtime::Impl::configured_busy_poll(), core::Duration(50us));
  ::setenv("TMC_BUSY_POLL_US", "999999", 1);
  EXPECT_EQ(Runtime::Impl::configured_busy_poll(), core::Duration(std::chrono::microseconds(Runtime::Impl::kMaxBusyPollMicroseconds)));
  ::setenv("TMC_BUSY_POLL_US", "50us", 1);
  EXPECT_EQ(Runtime::Impl::configured_busy_poll(), core::Duration::zero());
  ::setenv("TMC_BUSY_POLL_US", "-3", 1);
  EXPECT_EQ(Runtime::Impl::configured_busy_poll(), core::Duration::zero());
  ::unsetenv("TMC_BUSY_POLL_US");
}

// A busy-polling loop still runs every readiness event and every post, and it sleeps once the
// bounded poll after the last event is over: an idle loop costs no CPU.
TEST(Runtime, ABusyPollingLoopRunsEveryEventAndPostAndSleepsWhenIdle) {
  ::setenv("TMC_BUSY_POLL_US", "1000", 1);
  Runtime runtime;  // reads the variable as it starts
  ::unsetenv("TMC_BUSY_POLL_US");
  auto& loop = runtime.impl();
  auto fd = make_eventfd();
  std::atomic<std::uint64_t> read_total{0};
  std::atomic<int> posted{0};
  loop.add(fd.get(), EPOLLIN, [&](std::uint32_t events) {
    if (events & Runtime::Impl::kPosted) ++posted;
    std::uint64_t value = 0;
    if ((events & EPOLLIN) && ::read(fd.get(), &value, sizeof value) == 8) read_total += value;
  });
  std::uint64_t written = 0;
  for (int i = 1; i <= 200; ++i) {  // events and posts while the loop polls and while it sleeps
    const std::uint64_t one = 1;
    ASSERT_EQ(::write(fd.get(), &one, sizeof one), 8);
    ++written;
    if (i % 3 == 0) loop.post(fd.get());
    if (i % 50 == 0) std::this_thread::sleep_for(5ms);  // past the poll: asleep
  }
  ASSERT_TRUE(eventually([&] { return read_total.load() == written; }));
  ASSERT_TRUE(eventually([&] { return posted.load() >= 1; }));
  const int posts_seen = posted.load();
  loop.post(fd.get());
  ASSERT_TRUE(eventually([&] { return posted.load() > posts_seen; })) << "a post after the last event still runs";
  // Idle: 300 ms after a 1 ms poll cost at most the poll, not 300 ms of spinning.
  std::this_thread::sleep_for(20ms);
  timespec before{}, after{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before);
  std::this_thread::sleep_for(300ms);
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after);
  const double cpu_ms = (after.tv_sec - before.tv_sec) * 1e3 + (after.tv_nsec - before.tv_nsec) / 1e6;
  EXPECT_LT(cpu_ms, 60.0) << "the loop kept polling while idle";
  loop.remove(fd.get());
}

}  // namespace
}  // namespace tmc
