// transport/gso_batcher: which queued datagrams leave together as one UDP GSO super-packet.
// Every datagram is planned exactly once, per-destination order is kept, a run holds equal
// sizes with at most a shorter last one, and the kernel's segment/byte limits are respected.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "transport/gso_batcher.h"

namespace tmc::transport {
namespace {

const core::SocketAddress kA = *core::SocketAddress::parse("10.0.0.1:7000");
const core::SocketAddress kB = *core::SocketAddress::parse("10.0.0.2:7000");
const core::SocketAddress kC = *core::SocketAddress::parse("10.0.0.1:7001");  // A's host, other port

struct Planned {
  std::vector<std::vector<std::uint32_t>> units;  // queue indices per unit
  std::vector<std::uint32_t> segment_sizes;
};

Planned plan(const std::vector<core::SocketAddress>& to, const std::vector<std::size_t>& lengths,
             GsoBatcher::Limits limits = {}, bool enabled = true, const std::vector<std::uint8_t>& classes = {}) {
  GsoBatcher batcher;
  batcher.plan(to, lengths, limits, enabled, classes);
  Planned planned;
  for (const auto& unit : batcher.units()) {
    std::vector<std::uint32_t> members(batcher.order().begin() + unit.first,
                                       batcher.order().begin() + unit.first + unit.count);
    planned.units.push_back(members);
    planned.segment_sizes.push_back(unit.segment_size);
  }
  return planned;
}

// The invariants every plan must keep, whatever the input.
void expect_valid(const std::vector<core::SocketAddress>& to, const std::vector<std::size_t>& lengths,
                  const Planned& planned, const GsoBatcher::Limits& limits) {
  std::vector<int> seen(lengths.size(), 0);
  std::map<std::size_t, std::vector<std::uint32_t>> per_destination_order;  // index of first equal address
  auto key = [&](std::uint32_t i) {
    for (std::size_t k = 0; k < to.size(); ++k)
      if (to[k] == to[i]) return k;
    return std::size_t(0);
  };
  for (std::size_t u = 0; u < planned.units.size(); ++u) {
    const auto& unit = planned.units[u];
    ASSERT_FALSE(unit.empty());
    std::size_t bytes = 0;
    for (std::size_t k = 0; k < unit.size(); ++k) {
      const std::uint32_t i = unit[k];
      ++seen.at(i);
      per_destination_order[key(i)].push_back(i);
      bytes += lengths[i];
      EXPECT_EQ(to[i], to[unit[0]]) << "one destination per unit";
      if (planned.segment_sizes[u]) {
        if (k + 1 < unit.size()) EXPECT_EQ(lengths[i], planned.segment_sizes[u]);
        else EXPECT_LE(lengths[i], planned.segment_sizes[u]);
      }
    }
    if (planned.segment_sizes[u]) {
      EXPECT_GE(unit.size(), 2u);
      EXPECT_LE(unit.size(), limits.max_segments);
      EXPECT_LE(bytes, limits.max_bytes);
      EXPECT_LE(planned.segment_sizes[u], limits.max_segment_size);
    } else {
      EXPECT_EQ(unit.size(), 1u);
    }
  }
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "datagram " << i;
  for (const auto& [destination, indices] : per_destination_order)
    for (std::size_t k = 1; k < indices.size(); ++k) EXPECT_LT(indices[k - 1], indices[k]) << "order to one destination";
}

TEST(GsoBatcher, FragmentsOfOneMessageAreOneRunWithAShorterLast) {
  const std::vector<core::SocketAddress> to(5, kA);
  const std::vector<std::size_t> lengths{1472, 1472, 1472, 1472, 300};
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 1u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(planned.segment_sizes[0], 1472u);
}

TEST(GsoBatcher, EqualSmallMessagesAreOneRun) {
  const std::vector<core::SocketAddress> to(40, kA);
  const std::vector<std::size_t> lengths(40, 120);
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 1u);
  EXPECT_EQ(planned.units[0].size(), 40u);
  EXPECT_EQ(planned.segment_sizes[0], 120u);
}

TEST(GsoBatcher, ALongerDatagramEndsTheRunAndStartsTheNext) {
  const std::vector<core::SocketAddress> to(6, kA);
  const std::vector<std::size_t> lengths{100, 100, 200, 200, 200, 50};
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 2u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(planned.segment_sizes[0], 100u);
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{2, 3, 4, 5}));
  EXPECT_EQ(planned.segment_sizes[1], 200u);
}

TEST(GsoBatcher, AShorterDatagramIsOnlyEverTheLastSegment) {
  const std::vector<core::SocketAddress> to(4, kA);
  const std::vector<std::size_t> lengths{100, 60, 100, 100};
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 2u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{2, 3}));
}

TEST(GsoBatcher, ALoneDatagramAndMixedSizesGoAsToday) {
  const Planned planned = plan({kA, kA, kA}, {300, 200, 100});
  // 300,200 is a valid run (the shorter last); 100 then stands alone.
  ASSERT_EQ(planned.units.size(), 2u);
  EXPECT_EQ(planned.segment_sizes[0], 300u);
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(planned.segment_sizes[1], 0u) << "a run of one is sent without UDP_SEGMENT";
}

TEST(GsoBatcher, UserSpaceFanOutInterleavingIsRegroupedPerDestination) {
  // Each fragment queued once per member: A B C A B C ...
  std::vector<core::SocketAddress> to;
  std::vector<std::size_t> lengths;
  for (int fragment = 0; fragment < 4; ++fragment)
    for (const auto& member : {kA, kB, kC}) {
      to.push_back(member);
      lengths.push_back(fragment == 3 ? 700 : 1400);
    }
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 3u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 3, 6, 9}));
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{1, 4, 7, 10}));
  EXPECT_EQ(planned.units[2], (std::vector<std::uint32_t>{2, 5, 8, 11})) << "same host, other port: its own run";
  expect_valid(to, lengths, planned, {});
}

TEST(GsoBatcher, RespectsTheSegmentLimit) {
  const std::vector<core::SocketAddress> to(64 + 64 + 5, kA);
  const std::vector<std::size_t> lengths(to.size(), 100);
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 3u);
  EXPECT_EQ(planned.units[0].size(), 64u);
  EXPECT_EQ(planned.units[1].size(), 64u);
  EXPECT_EQ(planned.units[2].size(), 5u);
}

TEST(GsoBatcher, RespectsTheByteLimit) {
  // 44 x 1472 = 64768 fits 65507; a 45th does not.
  const std::vector<core::SocketAddress> to(60, kA);
  const std::vector<std::size_t> lengths(60, 1472);
  const Planned planned = plan(to, lengths);
  ASSERT_EQ(planned.units.size(), 2u);
  EXPECT_EQ(planned.units[0].size(), 44u);
  EXPECT_EQ(planned.units[1].size(), 16u);
  // Datagrams larger than half the limit can never share a super-packet.
  const Planned large = plan({kA, kA, kA}, {40000, 40000, 40000});
  EXPECT_EQ(large.units.size(), 3u);
  for (auto size : large.segment_sizes) EXPECT_EQ(size, 0u);
  // Loopback-MTU fragments fill a super-packet alone.
  const Planned full = plan({kA, kA}, {65507, 65507});
  EXPECT_EQ(full.units.size(), 2u);
  const Planned almost = plan({kA, kA}, {65506, 1});
  ASSERT_EQ(almost.units.size(), 1u);
  EXPECT_EQ(almost.segment_sizes[0], 65506u);
}

TEST(GsoBatcher, SegmentsAboveTheLearnedMaximumGoAlone) {
  GsoBatcher::Limits limits;
  limits.max_segment_size = 1400;
  const Planned planned = plan({kA, kA, kA, kA}, {1472, 1472, 1000, 1000}, limits);
  ASSERT_EQ(planned.units.size(), 3u);
  EXPECT_EQ(planned.segment_sizes[0], 0u);
  EXPECT_EQ(planned.segment_sizes[1], 0u);
  EXPECT_EQ(planned.segment_sizes[2], 1000u);
}

TEST(GsoBatcher, DisabledSendsEveryDatagramAlone) {
  const std::vector<core::SocketAddress> to(10, kA);
  const std::vector<std::size_t> lengths(10, 500);
  const Planned planned = plan(to, lengths, {}, false);
  ASSERT_EQ(planned.units.size(), 10u);
  for (std::size_t u = 0; u < 10; ++u) {
    EXPECT_EQ(planned.units[u], (std::vector<std::uint32_t>{static_cast<std::uint32_t>(u)}));
    EXPECT_EQ(planned.segment_sizes[u], 0u);
  }
}

TEST(GsoBatcher, EmptyQueuePlansNothing) { EXPECT_TRUE(plan({}, {}).units.empty()); }

// Classes (the eBPF fan-out's "cloned" vs "passed", tmc/fanout_rule.h): a class change to the
// same destination ends the run like a longer datagram, so order is kept.
TEST(GsoBatcher, AClassChangeEndsTheRun) {
  const std::vector<core::SocketAddress> to(8, kA);
  const std::vector<std::size_t> lengths(8, 100);
  const Planned planned = plan(to, lengths, {}, true, {1, 1, 0, 1, 1, 1, 0, 0});
  ASSERT_EQ(planned.units.size(), 4u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{2}));
  EXPECT_EQ(planned.segment_sizes[1], 0u);
  EXPECT_EQ(planned.units[2], (std::vector<std::uint32_t>{3, 4, 5}));
  EXPECT_EQ(planned.units[3], (std::vector<std::uint32_t>{6, 7}));
  // The same queue without classes is one run.
  EXPECT_EQ(plan(to, lengths).units.size(), 1u);
}

TEST(GsoBatcher, ClassesOfOtherDestinationsDoNotSplitARun) {
  // A (cloned data) interleaved with B (acks, another class): A's run stays whole.
  const std::vector<core::SocketAddress> to{kA, kB, kA, kB, kA};
  const std::vector<std::size_t> lengths(5, 100);
  const Planned planned = plan(to, lengths, {}, true, {1, 0, 1, 0, 1});
  ASSERT_EQ(planned.units.size(), 2u);
  EXPECT_EQ(planned.units[0], (std::vector<std::uint32_t>{0, 2, 4}));
  EXPECT_EQ(planned.units[1], (std::vector<std::uint32_t>{1, 3}));
}

// Property: random mixes of destinations, sizes and classes give valid plans whose units are
// each of one class; with one class everywhere the plan is the unclassed plan.
TEST(GsoBatcher, RandomClassedQueuesNeverMixClasses) {
  std::uint64_t state = 0xD1B54A32D192ED03ull;
  auto next = [&] {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  };
  const core::SocketAddress destinations[] = {kA, kB, kC};
  for (int round = 0; round < 2000; ++round) {
    const std::size_t count = next() % 65;
    std::vector<core::SocketAddress> to;
    std::vector<std::size_t> lengths;
    std::vector<std::uint8_t> classes;
    for (std::size_t i = 0; i < count; ++i) {
      to.push_back(destinations[next() % 3]);
      lengths.push_back(next() % 8 == 0 ? 40 + next() % 60 : 100);
      classes.push_back(static_cast<std::uint8_t>(next() % 3 == 0));
    }
    const Planned planned = plan(to, lengths, {}, true, classes);
    expect_valid(to, lengths, planned, {});
    for (const auto& unit : planned.units)
      for (std::uint32_t i : unit) EXPECT_EQ(classes[i], classes[unit[0]]) << "round " << round;
    const Planned one_class = plan(to, lengths, {}, true, std::vector<std::uint8_t>(count, 1));
    EXPECT_EQ(one_class.units, plan(to, lengths).units);
    if (::testing::Test::HasFailure()) FAIL() << "round " << round;
  }
}

// Property: random mixes of destinations and sizes always give a valid plan.
TEST(GsoBatcher, RandomQueuesAlwaysGiveValidPlans) {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  };
  const core::SocketAddress destinations[] = {kA, kB, kC};
  const std::size_t sizes[] = {64, 120, 1400, 1472, 9000, 30000};
  for (int round = 0; round < 2000; ++round) {
    const std::size_t count = next() % 65;
    std::vector<core::SocketAddress> to;
    std::vector<std::size_t> lengths;
    for (std::size_t i = 0; i < count; ++i) {
      to.push_back(destinations[next() % 3]);
      lengths.push_back(next() % 4 == 0 ? 1 + next() % 2000 : sizes[next() % 6]);
    }
    GsoBatcher::Limits limits;
    limits.max_segments = 2 + next() % 63;
    limits.max_segment_size = next() % 2 ? 65535 : 1 + next() % 2000;
    const Planned planned = plan(to, lengths, limits);
    expect_valid(to, lengths, planned, limits);
    if (::testing::Test::HasFailure()) FAIL() << "round " << round;
  }
}

}  // namespace
}  // namespace tmc::transport
