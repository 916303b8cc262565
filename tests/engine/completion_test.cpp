// core/completion: a Completion resolves once; handlers run once, on the resolving thread (or
// at once when already decided); decided states are shared and never change.
#include <gtest/gtest.h>

#include <thread>

#include "core/completion_state.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

TEST(Completion, ResolvesOnceAndRunsItsHandlersOnce) {
  auto state = std::make_shared<Completion::State>();
  Completion completion(state);
  EXPECT_EQ(completion.status(), SendStatus::pending);
  EXPECT_EQ(completion.wait_for(1ms), SendStatus::pending);
  int runs = 0;
  SendStatus seen = SendStatus::pending;
  completion.on_complete([&](SendStatus status) {
    ++runs;
    seen = status;
  });
  EXPECT_EQ(runs, 0);
  state->resolve(SendStatus::expired);
  state->resolve(SendStatus::delivered);  // ignored: the first outcome stands
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(seen, SendStatus::expired);
  EXPECT_EQ(completion.status(), SendStatus::expired);
  EXPECT_EQ(completion.wait(), SendStatus::expired);
}

TEST(Completion, WaitReturnsWhenAnotherThreadResolves) {
  auto state = std::make_shared<Completion::State>();
  Completion completion(state);
  std::thread resolver([state] {
    std::this_thread::sleep_for(5ms);
    state->resolve(SendStatus::delivered);
  });
  EXPECT_EQ(completion.wait_for(10s), SendStatus::delivered);
  resolver.join();
}

TEST(Completion, DecidedStatesAreSharedPerOutcomeAndNeverChange) {
  const auto delivered = Completion::State::decided(SendStatus::delivered);
  EXPECT_EQ(delivered, Completion::State::decided(SendStatus::delivered)) << "one shared state, no allocation";
  EXPECT_NE(delivered, Completion::State::decided(SendStatus::closed));
  EXPECT_EQ(Completion(Completion::State::decided(SendStatus::closed)).status(), SendStatus::closed);
  Completion completion(delivered);
  EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(completion.wait(), SendStatus::delivered);
  EXPECT_EQ(completion.wait_for(0s), SendStatus::delivered);
  int runs = 0;
  completion.on_complete([&](SendStatus status) {
    ++runs;
    EXPECT_EQ(status, SendStatus::delivered);
  });
  EXPECT_EQ(runs, 1) << "already decided: the handler runs at once";
  delivered->resolve(SendStatus::failed);
  EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_TRUE(delivered->handlers.empty());
  // Pending is never shared: each gets a state of its own.
  EXPECT_NE(Completion::State::decided(SendStatus::pending), Completion::State::decided(SendStatus::pending));
}

}  // namespace
}  // namespace tmc
