// core/receive_tracker: arrivals (fresh / late / duplicate / too_old), the cumulative point, the
// gaps a forward sequence skips, SACK blocks for acknowledgements and the kMaxRanges memory bound.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/receive_tracker.h"

namespace tmc::core {
namespace {

using Arrival = ReceiveTracker::Arrival;

std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps_of(const std::vector<ReceiveTracker::Range>& ranges) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const auto& r : ranges) out.emplace_back(r.first, r.count);
  return out;
}
using Gaps = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

std::vector<wire::SackBlock> sacks_of(const ReceiveTracker& tracker, std::uint64_t* cumulative = nullptr) {
  wire::AckFrame ack;
  ack.block_count = 99;  // must be overwritten
  tracker.fill_ack(ack);
  if (cumulative) *cumulative = ack.cumulative;
  return {ack.sacks().begin(), ack.sacks().end()};
}

TEST(ReceiveTracker, StartsAtTheGivenSequence) {
  ReceiveTracker tracker(1000);
  EXPECT_EQ(tracker.cumulative(), 1000u);
  EXPECT_EQ(tracker.range_count(), 0u);
  std::uint64_t cumulative = 0;
  EXPECT_TRUE(sacks_of(tracker, &cumulative).empty());
  EXPECT_EQ(cumulative, 1000u);
}

TEST(ReceiveTracker, InOrderArrivalsAdvanceTheCumulativePoint) {
  ReceiveTracker tracker(10);
  for (std::uint64_t s = 10; s < 20; ++s) {
    EXPECT_EQ(tracker.on_packet(s), Arrival::fresh);
    EXPECT_EQ(tracker.cumulative(), s + 1);
  }
  EXPECT_EQ(tracker.range_count(), 1u);
  EXPECT_TRUE(sacks_of(tracker).empty());
}

// In-order arrivals extend the highest range in place: one range however long the run, above a
// hole as well as at the cumulative point.
TEST(ReceiveTracker, ALongInOrderRunStaysOneRange) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s = 0; s < 100000; ++s) ASSERT_EQ(tracker.on_packet(s), Arrival::fresh) << s;
  EXPECT_EQ(tracker.range_count(), 1u);
  EXPECT_EQ(tracker.cumulative(), 100000u);
  // A hole at 100000, then an in-order run above it: two ranges, cumulative stays at the hole.
  for (std::uint64_t s = 100001; s < 101000; ++s) ASSERT_EQ(tracker.on_packet(s), Arrival::fresh) << s;
  EXPECT_EQ(tracker.range_count(), 2u);
  EXPECT_EQ(tracker.cumulative(), 100000u);
  EXPECT_EQ(sacks_of(tracker), (std::vector<wire::SackBlock>{{100001, 101000}}));
  EXPECT_EQ(tracker.on_packet(100500), Arrival::duplicate);
  EXPECT_EQ(tracker.on_packet(100000), Arrival::fresh);  // fills the hole: the ranges merge
  EXPECT_EQ(tracker.range_count(), 1u);
  EXPECT_EQ(tracker.cumulative(), 101000u);
}

// Extending the highest range below an abandonment point is still a late arrival.
TEST(ReceiveTracker, InOrderExtensionBelowTheForwardPointIsLate) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s = 0; s < 3; ++s) ASSERT_EQ(tracker.on_packet(s), Arrival::fresh);
  EXPECT_EQ(gaps_of(tracker.on_forward(10)), (Gaps{{3, 7}}));
  EXPECT_EQ(tracker.cumulative(), 10u);
  EXPECT_EQ(tracker.on_packet(3), Arrival::late);
  EXPECT_EQ(tracker.cumulative(), 10u);
  EXPECT_EQ(tracker.on_packet(3), Arrival::duplicate);
  EXPECT_EQ(tracker.on_packet(10), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 11u);
}

TEST(ReceiveTracker, DuplicatesAreRecognised) {
  ReceiveTracker tracker(0);
  EXPECT_EQ(tracker.on_packet(0), Arrival::fresh);
  EXPECT_EQ(tracker.on_packet(0), Arrival::duplicate);
  EXPECT_EQ(tracker.on_packet(5), Arrival::fresh);
  EXPECT_EQ(tracker.on_packet(5), Arrival::duplicate);
  EXPECT_TRUE(tracker.received(5));
  EXPECT_FALSE(tracker.received(4));
  EXPECT_EQ(tracker.cumulative(), 1u);
}

TEST(ReceiveTracker, BelowTheStartIsTooOld) {
  ReceiveTracker tracker(100);
  EXPECT_EQ(tracker.on_packet(99), Arrival::too_old);
  EXPECT_EQ(tracker.on_packet(0), Arrival::too_old);
  EXPECT_EQ(tracker.cumulative(), 100u);
}

TEST(ReceiveTracker, HoleFillAdvancesCumulativeAcrossReceivedRanges) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s : {1, 2, 3, 5, 6}) EXPECT_EQ(tracker.on_packet(s), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 0u);
  EXPECT_EQ(tracker.range_count(), 2u);
  EXPECT_EQ(tracker.on_packet(0), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 4u);
  EXPECT_EQ(tracker.on_packet(4), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 7u);
  EXPECT_EQ(tracker.range_count(), 1u);  // merged into [0, 7)
}

TEST(ReceiveTracker, ForwardReturnsExactlyTheNeverReceivedGaps) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s : {2, 3, 6}) tracker.on_packet(s);
  EXPECT_EQ(gaps_of(tracker.on_forward(8)), (Gaps{{0, 2}, {4, 2}, {7, 1}}));
  EXPECT_EQ(tracker.cumulative(), 8u);
}

TEST(ReceiveTracker, ForwardInsideAReceivedRangeStopsAtItsEnd) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s : {2, 3, 4}) tracker.on_packet(s);
  EXPECT_EQ(gaps_of(tracker.on_forward(3)), (Gaps{{0, 2}}));
  EXPECT_EQ(tracker.cumulative(), 5u);  // [2, 5) was received
}

TEST(ReceiveTracker, ForwardWithNoGapsOrBackwardsReturnsNothing) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s = 0; s < 5; ++s) tracker.on_packet(s);
  EXPECT_TRUE(tracker.on_forward(3).empty());   // already below cumulative
  EXPECT_TRUE(tracker.on_forward(5).empty());   // exactly at cumulative
  EXPECT_EQ(gaps_of(tracker.on_forward(7)), (Gaps{{5, 2}}));
  EXPECT_TRUE(tracker.on_forward(6).empty());   // backwards
  EXPECT_TRUE(tracker.on_forward(7).empty());   // repeated
  EXPECT_EQ(tracker.cumulative(), 7u);
}

TEST(ReceiveTracker, ForwardGapsAreReportedOnlyOnce) {
  ReceiveTracker tracker(0);
  tracker.on_packet(3);
  EXPECT_EQ(gaps_of(tracker.on_forward(2)), (Gaps{{0, 2}}));
  EXPECT_EQ(gaps_of(tracker.on_forward(6)), (Gaps{{2, 1}, {4, 2}}));
}

TEST(ReceiveTracker, AbandonedThenArrivingIsLateThenDuplicate) {
  ReceiveTracker tracker(100);
  tracker.on_packet(100);
  tracker.on_packet(105);
  EXPECT_EQ(gaps_of(tracker.on_forward(103)), (Gaps{{101, 2}}));
  EXPECT_EQ(tracker.cumulative(), 103u);
  EXPECT_EQ(tracker.on_packet(101), Arrival::late);
  EXPECT_EQ(tracker.on_packet(101), Arrival::duplicate);
  EXPECT_EQ(tracker.cumulative(), 103u);
  EXPECT_EQ(tracker.on_packet(103), Arrival::fresh);
  EXPECT_EQ(tracker.on_packet(104), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 106u);
}

TEST(ReceiveTracker, SackBlocksAreAboveCumulativeLowestFirst) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s : {9, 10, 4, 0, 6, 7, 15}) tracker.on_packet(s);
  std::uint64_t cumulative = 0;
  const auto sacks = sacks_of(tracker, &cumulative);
  EXPECT_EQ(cumulative, 1u);
  EXPECT_EQ(sacks, (std::vector<wire::SackBlock>{{4, 5}, {6, 8}, {9, 11}, {15, 16}}));
}

TEST(ReceiveTracker, SackBlocksExcludeLateRangesBelowCumulative) {
  ReceiveTracker tracker(0);
  tracker.on_forward(10);
  tracker.on_packet(3);  // late
  tracker.on_packet(12);
  std::uint64_t cumulative = 0;
  EXPECT_EQ(sacks_of(tracker, &cumulative), (std::vector<wire::SackBlock>{{12, 13}}));
  EXPECT_EQ(cumulative, 10u);
}

TEST(ReceiveTracker, AtMostThirtyTwoSackBlocksTheLowest) {
  ReceiveTracker tracker(0);
  for (std::uint64_t s = 2; s <= 200; s += 2) tracker.on_packet(s);  // 100 isolated packets
  const auto sacks = sacks_of(tracker);
  ASSERT_EQ(sacks.size(), std::size_t(TMC_MAX_SACK_BLOCKS));
  for (std::size_t i = 0; i < sacks.size(); ++i) EXPECT_EQ(sacks[i], (wire::SackBlock{2 + 2 * i, 3 + 2 * i}));
}

TEST(ReceiveTracker, SackBlocksAlwaysFormAValidAckFrame) {
  // Whatever arrives, fill_ack must produce blocks the wire format accepts: ascending,
  // non-adjacent, strictly above the cumulative point.
  ReceiveTracker tracker(0);
  std::uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t s = (x >> 33) % 3000;
    tracker.on_packet(s);
    if (i % 500 == 499) tracker.on_forward(tracker.cumulative() + 7);
    std::uint64_t cumulative = 0;
    const auto sacks = sacks_of(tracker, &cumulative);
    std::uint64_t floor = cumulative;
    for (const auto& block : sacks) {
      ASSERT_GT(block.start, floor) << "iteration " << i;
      ASSERT_GT(block.end, block.start);
      floor = block.end;
    }
    ASSERT_FALSE(tracker.received(cumulative)) << "cumulative must be a hole";
  }
}

TEST(ReceiveTracker, PruningBoundsMemoryAndForgetsTheOldest) {
  ReceiveTracker tracker(0);
  const std::size_t extra = 100;
  // kMaxRanges + extra isolated packets: 1, 3, 5, ... (0, 2, 4, ... never arrive).
  for (std::size_t i = 0; i < ReceiveTracker::kMaxRanges + extra; ++i) {
    EXPECT_EQ(tracker.on_packet(2 * i + 1), Arrival::fresh) << i;
    ASSERT_LE(tracker.range_count(), ReceiveTracker::kMaxRanges);
  }
  EXPECT_EQ(tracker.range_count(), ReceiveTracker::kMaxRanges);
  // The oldest `extra` ranges [1,2) .. [2*extra-1, 2*extra) were forgotten: everything below
  // 2 * extra is now too old, and the unresolved holes there count as abandoned.
  EXPECT_EQ(tracker.cumulative(), 2 * extra);
  EXPECT_EQ(tracker.on_packet(1), Arrival::too_old);
  EXPECT_EQ(tracker.on_packet(0), Arrival::too_old);
  EXPECT_EQ(tracker.on_packet(2 * extra - 2), Arrival::too_old);
  // Still-remembered ranges are still duplicates.
  EXPECT_EQ(tracker.on_packet(2 * extra + 1), Arrival::duplicate);
  // Filling the first remembered hole advances cumulative again.
  EXPECT_EQ(tracker.on_packet(2 * extra), Arrival::fresh);
  EXPECT_EQ(tracker.cumulative(), 2 * extra + 2);
}

TEST(ReceiveTracker, MemoryStaysBoundedOverALongScatteredRun) {
  ReceiveTracker tracker(0);
  for (std::uint64_t i = 0; i < 200000; ++i) {
    tracker.on_packet(3 * i);  // every third sequence only: a new range each time
    ASSERT_LE(tracker.range_count(), ReceiveTracker::kMaxRanges);
  }
  // Cumulative kept moving although two thirds never arrived.
  EXPECT_GE(tracker.cumulative(), 3 * (200000 - ReceiveTracker::kMaxRanges - 1));
}

}  // namespace
}  // namespace tmc::core
