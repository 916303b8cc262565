// core/quorum_tracker: completion of reliable sends — all targets, a named subset, a fraction;
// a failed member making the quorum impossible resolves `failed`; deadlines resolve `expired`;
// resolve_all resolves everything (channel closed).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "core/completion_state.h"
#include "core/quorum_tracker.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = TimePoint(std::chrono::seconds(50));

std::shared_ptr<Completion::State> state() { return std::make_shared<Completion::State>(); }

QuorumTracker::Requirement all_of(std::vector<int> members) {
  const std::size_t n = members.size();
  return {std::move(members), n};
}

TEST(QuorumTracker, NothingNeededCompletesAtOnce) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(1, {{0, 1}, 0}, 1, completion, kNever, 2);
  EXPECT_EQ(completion->status, SendStatus::delivered);
  EXPECT_FALSE(tracker.pending(1));
  EXPECT_EQ(tracker.size(), 0u);
}

TEST(QuorumTracker, FewerCountedThanNeededFailsAtOnce) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(1, {{0}, 2}, 1, completion, kNever, 3);
  EXPECT_EQ(completion->status, SendStatus::failed);
  EXPECT_FALSE(tracker.pending(1));
}

TEST(QuorumTracker, AllTargetsMustAcknowledgeEveryFragment) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(7, all_of({0, 1, 2}), 2, completion, kNever, 3);
  EXPECT_TRUE(tracker.pending(7));
  tracker.on_fragment_acked(7, 0);
  tracker.on_fragment_acked(7, 0);  // member 0 complete
  tracker.on_fragment_acked(7, 1);
  tracker.on_fragment_acked(7, 1);  // member 1 complete
  tracker.on_fragment_acked(7, 2);  // member 2 has one of two fragments
  EXPECT_EQ(completion->status, SendStatus::pending);
  // Extra acknowledgements from complete members change nothing.
  tracker.on_fragment_acked(7, 0);
  tracker.on_fragment_acked(7, 1);
  EXPECT_EQ(completion->status, SendStatus::pending);
  tracker.on_fragment_acked(7, 2);
  EXPECT_EQ(completion->status, SendStatus::delivered);
  EXPECT_FALSE(tracker.pending(7));
  // Acks after completion are ignored.
  tracker.on_fragment_acked(7, 2);
  EXPECT_EQ(completion->status, SendStatus::delivered);
}

TEST(QuorumTracker, SubsetCountsOnlyNamedMembers) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(3, all_of({1, 3}), 1, completion, kNever, 4);
  tracker.on_fragment_acked(3, 0);
  tracker.on_fragment_acked(3, 2);
  tracker.on_fragment_acked(3, 1);
  EXPECT_EQ(completion->status, SendStatus::pending) << "members 0 and 2 do not count";
  tracker.on_fragment_acked(3, 3);
  EXPECT_EQ(completion->status, SendStatus::delivered);
}

TEST(QuorumTracker, FractionCompletesWithAnyKMembers) {
  QuorumTracker tracker;
  auto a = state(), b = state();
  tracker.add(1, {{0, 1, 2, 3}, 2}, 1, a, kNever, 4);
  tracker.add(2, {{0, 1, 2, 3}, 2}, 1, b, kNever, 4);
  tracker.on_fragment_acked(1, 3);
  EXPECT_EQ(a->status, SendStatus::pending);
  tracker.on_fragment_acked(1, 0);
  EXPECT_EQ(a->status, SendStatus::delivered);
  tracker.on_fragment_acked(2, 2);
  tracker.on_fragment_acked(2, 2);  // the same member twice is still one member
  EXPECT_EQ(b->status, SendStatus::pending);
  tracker.on_fragment_acked(2, 1);
  EXPECT_EQ(b->status, SendStatus::delivered);
}

TEST(QuorumTracker, FailedMemberMakesAllImpossible) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(5, all_of({0, 1, 2}), 1, completion, kNever, 3);
  tracker.on_fragment_acked(5, 0);
  tracker.on_member_failed(5, 2);
  EXPECT_EQ(completion->status, SendStatus::failed);
  EXPECT_FALSE(tracker.pending(5));
}

TEST(QuorumTracker, FractionToleratesFailuresUntilImpossible) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(5, {{0, 1, 2, 3}, 2}, 3, completion, kNever, 4);
  tracker.on_fragment_acked(5, 0);  // partial ack of member 0 (1 of 3 fragments)
  tracker.on_member_failed(5, 0);
  EXPECT_EQ(completion->status, SendStatus::pending) << "3 left, 2 needed";
  tracker.on_member_failed(5, 0);  // the same member again (one call per abandoned packet)
  EXPECT_EQ(completion->status, SendStatus::pending);
  tracker.on_member_failed(5, 1);
  EXPECT_EQ(completion->status, SendStatus::pending) << "2 left, 2 needed";
  tracker.on_member_failed(5, 2);
  EXPECT_EQ(completion->status, SendStatus::failed) << "1 left, 2 needed";
}

TEST(QuorumTracker, FailureOfACompleteOrUncountedMemberIsIgnored) {
  QuorumTracker tracker;
  auto completion = state();
  tracker.add(5, all_of({0, 1}), 1, completion, kNever, 3);
  tracker.on_fragment_acked(5, 0);
  tracker.on_member_failed(5, 0);  // already acknowledged everything
  tracker.on_member_failed(5, 2);  // not counted
  EXPECT_EQ(completion->status, SendStatus::pending);
  tracker.on_fragment_acked(5, 1);
  EXPECT_EQ(completion->status, SendStatus::delivered);
}

TEST(QuorumTracker, DeadlinesExpire) {
  QuorumTracker tracker;
  auto early = state(), late = state(), never = state();
  tracker.add(1, all_of({0}), 1, early, kStart + 10ms, 1);
  tracker.add(2, all_of({0}), 1, late, kStart + 20ms, 1);
  tracker.add(3, all_of({0}), 1, never, kNever, 1);
  EXPECT_EQ(tracker.next_deadline(), kStart + 10ms);
  EXPECT_TRUE(tracker.expire(kStart + 9ms).empty());
  EXPECT_EQ(tracker.expire(kStart + 10ms), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(early->status, SendStatus::expired);
  EXPECT_EQ(late->status, SendStatus::pending);
  EXPECT_EQ(tracker.next_deadline(), kStart + 20ms);
  tracker.on_fragment_acked(2, 0);
  EXPECT_EQ(late->status, SendStatus::delivered);
  EXPECT_TRUE(tracker.expire(kStart + 1h).empty()) << "delivered before its deadline";
  EXPECT_EQ(tracker.next_deadline(), kNever);
  EXPECT_EQ(never->status, SendStatus::pending);
  EXPECT_EQ(tracker.size(), 1u);
}

TEST(QuorumTracker, ExpireReturnsEveryPassedDeadline) {
  QuorumTracker tracker;
  std::vector<std::shared_ptr<Completion::State>> states;
  for (std::uint64_t id = 0; id < 20; ++id) {
    states.push_back(state());
    tracker.add(id, all_of({0, 1}), 1, states.back(), kStart + std::chrono::milliseconds(id), 2);
  }
  auto expired = tracker.expire(kStart + 9ms);
  std::sort(expired.begin(), expired.end());
  ASSERT_EQ(expired.size(), 10u);
  for (std::uint64_t id = 0; id < 10; ++id) {
    EXPECT_EQ(expired[id], id);
    EXPECT_EQ(states[id]->status, SendStatus::expired);
  }
  for (std::uint64_t id = 10; id < 20; ++id) EXPECT_EQ(states[id]->status, SendStatus::pending);
  EXPECT_EQ(tracker.size(), 10u);
}

TEST(QuorumTracker, DeadlinesAreIndexedInOrderAndMessagesWithoutOneAreNotScanned) {
  // A large window without deadlines plus a few with: expiry returns earliest first, and a
  // message acknowledged or failed before its deadline leaves nothing behind.
  QuorumTracker tracker;
  std::vector<std::shared_ptr<Completion::State>> states;
  for (std::uint64_t id = 0; id < 5000; ++id) {
    states.push_back(state());
    tracker.add(id, all_of({0}), 1, states.back(), kNever, 1);
  }
  auto third = state(), first = state(), second = state(), acked = state(), failed = state();
  tracker.add(9003, all_of({0}), 1, third, kStart + 30ms, 1);
  tracker.add(9001, all_of({0}), 1, first, kStart + 10ms, 1);
  tracker.add(9002, all_of({0}), 1, second, kStart + 20ms, 1);
  tracker.add(9004, all_of({0}), 1, acked, kStart + 5ms, 1);
  tracker.add(9005, all_of({0}), 1, failed, kStart + 6ms, 1);
  EXPECT_EQ(tracker.next_deadline(), kStart + 5ms);
  tracker.on_fragment_acked(9004, 0);
  tracker.on_member_failed(9005, 0);
  EXPECT_EQ(acked->status, SendStatus::delivered);
  EXPECT_EQ(failed->status, SendStatus::failed);
  EXPECT_EQ(tracker.next_deadline(), kStart + 10ms);
  EXPECT_EQ(tracker.expire(kStart + 1h), (std::vector<std::uint64_t>{9001, 9002, 9003}));
  EXPECT_EQ(tracker.next_deadline(), kNever);
  EXPECT_EQ(tracker.size(), 5000u);
  EXPECT_EQ(states[0]->status, SendStatus::pending);
}

TEST(QuorumTracker, ResolveAll) {
  QuorumTracker tracker;
  auto a = state(), b = state();
  tracker.add(1, all_of({0}), 1, a, kNever, 1);
  tracker.add(2, all_of({0}), 1, b, kStart, 1);
  int handlers_run = 0;
  Completion(a).on_complete([&](SendStatus s) {
    EXPECT_EQ(s, SendStatus::closed);
    ++handlers_run;
  });
  tracker.resolve_all(SendStatus::closed);
  EXPECT_EQ(a->status, SendStatus::closed);
  EXPECT_EQ(b->status, SendStatus::closed);
  EXPECT_EQ(handlers_run, 1);
  EXPECT_EQ(tracker.size(), 0u);
  EXPECT_EQ(tracker.next_deadline(), kNever);
  // Late events for resolved ids are harmless.
  tracker.on_fragment_acked(1, 0);
  tracker.on_member_failed(2, 0);
  EXPECT_EQ(a->status, SendStatus::closed);
}

TEST(QuorumTracker, UnknownMessageIdsAreIgnored) {
  QuorumTracker tracker;
  tracker.on_fragment_acked(99, 0);
  tracker.on_member_failed(99, 0);
  EXPECT_TRUE(tracker.expire(kStart).empty());
  EXPECT_EQ(tracker.size(), 0u);
}

// A finished message's node is reused by the next add(): nothing of its counts, members,
// deadline or completion carries over.
TEST(QuorumTracker, AReusedNodeStartsFromNothing) {
  QuorumTracker tracker;
  auto first = state();
  tracker.add(1, all_of({0, 1}), 2, first, kStart + 5ms, 3);
  tracker.on_fragment_acked(1, 0);
  tracker.on_fragment_acked(1, 0);  // member 0 complete: acked = 1
  tracker.on_member_failed(1, 1);   // impossible now
  EXPECT_EQ(first->status, SendStatus::failed);
  auto second = state();  // takes the node of message 1
  tracker.add(2, {{1, 2}, 2}, 1, second, kNever, 3);
  EXPECT_EQ(tracker.size(), 1u);
  tracker.on_fragment_acked(2, 0);  // not counted for message 2
  tracker.on_fragment_acked(2, 1);
  EXPECT_EQ(second->status, SendStatus::pending) << "acked/failed of message 1 must not count";
  EXPECT_TRUE(tracker.expire(kStart + 10ms).empty()) << "message 1's deadline went with it";
  tracker.on_fragment_acked(2, 2);
  EXPECT_EQ(second->status, SendStatus::delivered);
  // Many messages in flight, finished in bursts: every one completes exactly when due.
  std::vector<std::shared_ptr<Completion::State>> states;
  for (std::uint64_t round = 0; round < 3; ++round) {
    for (std::uint64_t i = 0; i < 5000; ++i) {
      states.push_back(state());
      tracker.add(100 + round * 5000 + i, all_of({0, 2}), 1, states.back(), kNever, 3);
    }
    for (std::uint64_t i = 0; i < 5000; ++i) tracker.on_fragment_acked(100 + round * 5000 + i, 2);
    for (std::uint64_t i = 0; i < 5000; ++i) EXPECT_EQ(states[round * 5000 + i]->status, SendStatus::pending);
    for (std::uint64_t i = 0; i < 5000; ++i) tracker.on_fragment_acked(100 + round * 5000 + i, 0);
    for (std::uint64_t i = 0; i < 5000; ++i) ASSERT_EQ(states[round * 5000 + i]->status, SendStatus::delivered);
    EXPECT_EQ(tracker.size(), 0u);
  }
}

}  // namespace
}  // namespace tmc::core
