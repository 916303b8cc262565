// core/delivery_order: the four receive-side orderings of delivery_order.h — none (deliver on
// completion), unreliable fifo and fifo-drop-stale (deliver unless older than the latest ordered
// delivery), reliable fifo (hold until the cumulative point passes, release in sequence order).
#include <gtest/gtest.h>

#include <vector>

#include "core/delivery_order.h"
#include "tmc/wire_format.h"

namespace tmc::core {
namespace {

using Verdict = DeliveryOrder::Verdict;

constexpr std::uint16_t kNone = TMC_FLAG_ACK_REQUESTED;  // ordering none, reliable or not
constexpr std::uint16_t kUnreliableFifo = TMC_FLAG_ORDERED;
constexpr std::uint16_t kDropStale = TMC_FLAG_ORDERED | TMC_FLAG_DROP_STALE;
constexpr std::uint16_t kReliableDropStale = TMC_FLAG_ORDERED | TMC_FLAG_DROP_STALE | TMC_FLAG_ACK_REQUESTED;
constexpr std::uint16_t kReliableFifo = TMC_FLAG_ORDERED | TMC_FLAG_ACK_REQUESTED;

CompleteMessage message(std::uint64_t first, std::uint16_t flags, std::uint32_t fragments = 1) {
  CompleteMessage m;
  m.first_sequence = first;
  m.fragment_count = fragments;
  m.flags = flags;
  m.payload = {std::byte(first & 0xFF)};
  return m;
}

std::vector<std::uint64_t> firsts(const std::vector<CompleteMessage>& out) {
  std::vector<std::uint64_t> v;
  for (const auto& m : out) v.push_back(m.first_sequence);
  return v;
}
using Seqs = std::vector<std::uint64_t>;

TEST(DeliveryOrder, NoOrderingDeliversEverythingOnCompletion) {
  for (std::uint16_t flags : {std::uint16_t(0), kNone}) {
    DeliveryOrder order;
    std::vector<CompleteMessage> out;
    EXPECT_EQ(order.on_complete(message(9, flags), 0, out), Verdict::delivered);
    EXPECT_EQ(order.on_complete(message(3, flags), 0, out), Verdict::delivered);
    EXPECT_EQ(order.on_complete(message(3, flags), 0, out), Verdict::delivered);  // not its job to dedupe
    EXPECT_EQ(firsts(out), (Seqs{9, 3, 3}));
    EXPECT_EQ(order.held(), 0u);
    EXPECT_EQ(order.stale_dropped(), 0u);
    EXPECT_EQ(out[0].payload, std::vector<std::byte>{std::byte{9}});  // moved through intact
  }
}

TEST(DeliveryOrder, UnreliableFifoDropsWhatArrivesLate) {
  for (std::uint16_t flags : {kUnreliableFifo, kDropStale, kReliableDropStale}) {
    DeliveryOrder order;
    std::vector<CompleteMessage> out;
    EXPECT_EQ(order.on_complete(message(5, flags), 0, out), Verdict::delivered) << flags;
    EXPECT_EQ(order.on_complete(message(3, flags), 0, out), Verdict::stale) << flags;
    EXPECT_EQ(order.on_complete(message(5, flags), 0, out), Verdict::stale) << "same sequence again";
    EXPECT_EQ(order.on_complete(message(8, flags), 0, out), Verdict::delivered);
    EXPECT_EQ(order.on_complete(message(6, flags), 0, out), Verdict::stale);
    EXPECT_EQ(firsts(out), (Seqs{5, 8}));
    EXPECT_EQ(order.stale_dropped(), 3u);
    EXPECT_EQ(order.held(), 0u) << "never held back, even when cumulative lags";
  }
}

TEST(DeliveryOrder, ReliableFifoHoldsUntilCumulativePasses) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  // 10 and 11 are missing; 12 completes first.
  EXPECT_EQ(order.on_complete(message(12, kReliableFifo), 10, out), Verdict::held);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(order.held(), 1u);
  // 10 arrives: cumulative 11 passes 10 but not 12.
  EXPECT_EQ(order.on_complete(message(10, kReliableFifo), 11, out), Verdict::delivered);
  EXPECT_EQ(firsts(out), (Seqs{10}));
  EXPECT_EQ(order.held(), 1u);
  // 11 arrives: cumulative 13 releases 11 then 12, in sequence order.
  EXPECT_EQ(order.on_complete(message(11, kReliableFifo), 13, out), Verdict::delivered);
  EXPECT_EQ(firsts(out), (Seqs{10, 11, 12}));
  EXPECT_EQ(order.held(), 0u);
  EXPECT_EQ(order.stale_dropped(), 0u);
}

TEST(DeliveryOrder, ReliableFifoReleasesOnCumulativeMove) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  EXPECT_EQ(order.on_complete(message(7, kReliableFifo), 5, out), Verdict::held);
  EXPECT_EQ(order.on_complete(message(9, kReliableFifo, 2), 5, out), Verdict::held);  // sequences 9..10
  EXPECT_EQ(order.on_complete(message(6, kReliableFifo), 5, out), Verdict::held);
  order.on_cumulative(6, out);  // 6 itself not yet received: nothing is released
  EXPECT_TRUE(out.empty());
  order.on_cumulative(8, out);  // sender abandoned or peer filled 5; passes 6 and 7
  EXPECT_EQ(firsts(out), (Seqs{6, 7}));
  order.on_cumulative(8, out);  // repeated: nothing new
  EXPECT_EQ(firsts(out), (Seqs{6, 7}));
  order.on_cumulative(100, out);
  EXPECT_EQ(firsts(out), (Seqs{6, 7, 9}));
  EXPECT_EQ(order.held(), 0u);
}

TEST(DeliveryOrder, ReliableFifoDeliversAtOnceWhenNothingEarlierIsMissing) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  for (std::uint64_t s = 0; s < 5; ++s)
    EXPECT_EQ(order.on_complete(message(s, kReliableFifo), s + 1, out), Verdict::delivered);
  EXPECT_EQ(firsts(out), (Seqs{0, 1, 2, 3, 4}));
}

// A message delivered at once (in order, nothing held) moves the latest-ordered point like a
// released one: a copy of an older message completing later is stale, and a held later message
// is released behind it.
TEST(DeliveryOrder, AnInOrderDeliveryMovesTheLatestOrderedPoint) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  EXPECT_EQ(order.on_complete(message(7, kReliableFifo), 8, out), Verdict::delivered);
  EXPECT_EQ(order.held(), 0u);
  EXPECT_EQ(order.on_complete(message(6, kReliableFifo), 8, out), Verdict::stale);
  EXPECT_EQ(order.on_complete(message(9, kReliableFifo), 8, out), Verdict::held);
  order.on_cumulative(10, out);
  EXPECT_EQ(firsts(out), (Seqs{7, 9}));
  EXPECT_EQ(order.stale_dropped(), 1u);
}

TEST(DeliveryOrder, ReliableFifoOutputIsAlwaysAscending) {
  // Messages complete in a scrambled order while the cumulative point crawls up: the output
  // must be strictly ascending and complete.
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  const int n = 200;
  std::vector<bool> arrived(n, false);
  std::uint64_t cumulative = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t s = (std::uint64_t(i) * 73) % n;  // 73 coprime with 200: a permutation
    arrived[s] = true;
    while (cumulative < std::uint64_t(n) && arrived[cumulative]) ++cumulative;
    order.on_complete(message(s, kReliableFifo), cumulative, out);
  }
  ASSERT_EQ(out.size(), std::size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(out[i].first_sequence, std::uint64_t(i));
  EXPECT_EQ(order.held(), 0u);
}

TEST(DeliveryOrder, ReliableFifoHoldsARoundTripBehindAHoleAndFillsALaterHoleInTheMiddle) {
  // The shape of a lossy stream: sequence 0 is lost, 1..999 arrive in order and are held
  // (appended); 500 was lost too and its retransmission arrives before 0's (inserted in the
  // middle); a second copy of 700 changes nothing. 0 then releases everything, in order,
  // with each payload intact.
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  for (std::uint64_t s = 1; s < 1000; ++s)
    if (s != 500) EXPECT_EQ(order.on_complete(message(s, kReliableFifo), 0, out), Verdict::held);
  EXPECT_EQ(order.on_complete(message(500, kReliableFifo), 0, out), Verdict::held);
  EXPECT_EQ(order.on_complete(message(700, kReliableFifo), 0, out), Verdict::held);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(order.held(), 999u) << "the second 700 was not held twice";
  EXPECT_EQ(order.on_complete(message(0, kReliableFifo), 1000, out), Verdict::delivered);
  ASSERT_EQ(out.size(), 1000u);
  for (std::uint64_t s = 0; s < 1000; ++s) {
    EXPECT_EQ(out[s].first_sequence, s);
    ASSERT_EQ(out[s].payload.size(), 1u);
    EXPECT_EQ(out[s].payload[0], std::byte(s & 0xFF));
  }
  EXPECT_EQ(order.held(), 0u);
  EXPECT_EQ(order.stale_dropped(), 0u);
}

TEST(DeliveryOrder, ReliableFifoReleasesUpToTheCumulativePointAndHoldsTheRest) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  for (std::uint64_t s : {5u, 3u, 9u, 7u}) EXPECT_EQ(order.on_complete(message(s, kReliableFifo), 2, out), Verdict::held);
  // 2 arrives and the cumulative point reaches 6 (4 and 6 abandoned or received elsewhere): 2, 3,
  // 5 leave; 7 and 9 wait.
  EXPECT_EQ(order.on_complete(message(2, kReliableFifo), 6, out), Verdict::delivered);
  EXPECT_EQ(firsts(out), (Seqs{2, 3, 5}));
  EXPECT_EQ(order.held(), 2u);
  EXPECT_EQ(order.on_complete(message(8, kReliableFifo), 8, out), Verdict::held) << "8 is above the cumulative point";
  EXPECT_EQ(firsts(out), (Seqs{2, 3, 5, 7}));
  order.on_cumulative(10, out);
  EXPECT_EQ(firsts(out), (Seqs{2, 3, 5, 7, 8, 9}));
  EXPECT_EQ(order.held(), 0u);
}

TEST(DeliveryOrder, HeldMessageOlderThanAnUnreliableDeliveryIsStaleOnRelease) {
  // A stream mixing per-message manifests: an unreliable fifo delivery of 20 makes a held
  // reliable message 15 stale when it would be released.
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  EXPECT_EQ(order.on_complete(message(15, kReliableFifo), 10, out), Verdict::held);
  EXPECT_EQ(order.on_complete(message(20, kUnreliableFifo), 10, out), Verdict::delivered);
  order.on_cumulative(30, out);
  EXPECT_EQ(firsts(out), (Seqs{20}));
  EXPECT_EQ(order.stale_dropped(), 1u);
  EXPECT_EQ(order.held(), 0u);
}

TEST(DeliveryOrder, UnorderedMessagesBypassHeldOnes) {
  DeliveryOrder order;
  std::vector<CompleteMessage> out;
  EXPECT_EQ(order.on_complete(message(5, kReliableFifo), 3, out), Verdict::held);
  EXPECT_EQ(order.on_complete(message(8, 0), 3, out), Verdict::delivered);
  EXPECT_EQ(firsts(out), (Seqs{8}));
  EXPECT_EQ(order.held(), 1u);
}

}  // namespace
}  // namespace tmc::core
