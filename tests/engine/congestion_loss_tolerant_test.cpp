// loss-tolerant (delay-based) with synthetic event sequences on a mock clock.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/congestion_path_model.h"
#include "tmc/congestion.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

constexpr std::uint64_t kDatagram = 1472;
// These event sequences model a fabric path with NIC-level RTTs (no host processing delay).
const CongestionParams kFabricOnly{{"endpoint_delay", "0us"}};

TEST(LossTolerant, RandomLossDoesNotShrinkTheWindow) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  TimePoint now{};
  for (int i = 0; i < 100; ++i) {
    controller->on_packet_sent({.now = now, .bytes = kDatagram});
    now += 1us;
    controller->on_ack({.now = now + 50us, .bytes_acked = kDatagram, .rtt_sample = 50us, .largest_acked_sent_time = now});
  }
  std::uint64_t before = state.cwnd_bytes;
  for (int i = 0; i < 10; ++i) {
    controller->on_packet_sent({.now = now, .bytes = kDatagram});
    controller->on_loss({.now = now + 60us, .bytes_lost = kDatagram, .largest_lost_sent_time = now});
    now += 1us;
  }
  EXPECT_EQ(state.cwnd_bytes, before);
  EXPECT_EQ(state.congestion_events, 0u);
  EXPECT_EQ(state.packets_lost, 10u);
  EXPECT_EQ(state.bytes_in_flight, 0u);
}

TEST(LossTolerant, QueueingDelayAboveTargetForAWholeRoundDecreasesBoundedAndOncePerRound) {
  TransportState state;
  // round_samples 1: a round ends after one smoothed RTT whatever it holds (the sample-count
  // rule is tested below).
  auto controller = CongestionControllerRegistry::global().create(
      "loss-tolerant", state,
      {{"target_queue_delay", "50us"}, {"endpoint_delay", "0us"}, {"beta", "0.8"}, {"max_decrease", "0.5"}, {"round_samples", "1"}});
  TimePoint now{};
  // Learn the base RTT (100 us) during slow start; the first round starts here.
  controller->on_ack({.now = now, .bytes_acked = 10 * kDatagram, .rtt_sample = 100us});
  ASSERT_EQ(state.cwnd_bytes, 20 * kDatagram);
  // A 200 us sample ends the first round, whose minimum (100 us) is below the 150 us target:
  // no decrease, and no growth either (this sample is above target).
  now += 150us;
  controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 200us});
  EXPECT_EQ(state.cwnd_bytes, 20 * kDatagram);
  EXPECT_EQ(state.congestion_events, 0u);
  // A whole round of 200 us samples: minimum 200 us, excess over target 50 us ->
  // factor 1 - 0.8 * 50/200 = 0.8, applied when the round ends (one smoothed RTT later).
  for (int i = 0; i < 3; ++i) {
    now += 50us;
    controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 200us});
  }
  EXPECT_EQ(state.cwnd_bytes, static_cast<std::uint64_t>(20 * kDatagram * 0.8));
  EXPECT_EQ(state.congestion_events, 1u);
  const std::uint64_t after_first = state.cwnd_bytes;
  // Within the next round no further decrease, whatever the sample.
  controller->on_ack({.now = now + 10us, .bytes_acked = kDatagram, .rtt_sample = 1000us});
  EXPECT_EQ(state.cwnd_bytes, after_first);
  // That round's minimum (1 ms) is far above target: the decrease is capped at max_decrease.
  now += 5ms;  // more than the smoothed RTT, which the 10 ms sample raises to ~1.5 ms
  controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 10ms});
  EXPECT_EQ(state.cwnd_bytes, after_first / 2);
  EXPECT_EQ(state.congestion_events, 2u);
  // Below target again: additive increase, one datagram per window acknowledged (not slow start).
  const std::uint64_t window = state.cwnd_bytes;
  now += 1ms;
  controller->on_ack({.now = now, .bytes_acked = window, .rtt_sample = 100us});
  EXPECT_NEAR(static_cast<double>(state.cwnd_bytes), static_cast<double>(window + kDatagram), 1.0);
}

TEST(LossTolerant, HostDelaySpikesInSomeSamplesAreNotCongestion) {
  // An end host that is descheduled now and then delays some acks by milliseconds while the
  // path has no queue (most samples at the 50 us base RTT). The round minimum stays at base:
  // the window never shrinks and keeps growing on the good samples.
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  TimePoint now{};
  for (int i = 0; i < 4000; ++i) {
    now += 5us;
    const Duration sample = i % 4 == 3 ? Duration(2ms) : Duration(50us);
    controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = sample, .largest_acked_sent_time = now - sample});
  }
  EXPECT_EQ(state.congestion_events, 0u);
  EXPECT_GT(state.cwnd_bytes, 1000 * kDatagram);  // slow start over the 3000 good samples
}

TEST(LossTolerant, SparseAcksAreJudgedOverEnoughSamples) {
  // A small window acked every 8 packets gives one RTT sample per round trip or less; every
  // other one is delayed by a receiver stall. Judged per sample (round_samples 1) half the
  // rounds look congested; over 8 samples the minimum is the base RTT.
  auto congestion_events = [](const CongestionParams& params) {
    TransportState state;
    auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, params);
    TimePoint now{};
    for (int i = 0; i < 200; ++i) {
      now += 5ms;  // longer than any smoothed RTT here: time never holds a round open
      const Duration sample = i % 2 ? Duration(3ms) : Duration(60us);
      controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = sample, .largest_acked_sent_time = now - sample});
    }
    return state.congestion_events;
  };
  EXPECT_EQ(congestion_events(kFabricOnly), 0u);
  EXPECT_GT(congestion_events({{"round_samples", "1"}, {"endpoint_delay", "0us"}}), 50u);
}

TEST(LossTolerant, RejectsARoundOfNoSamples) {
  TransportState state;
  EXPECT_THROW(CongestionControllerRegistry::global().create("loss-tolerant", state, {{"round_samples", "0"}}),
               CongestionConfigError);
}

TEST(LossTolerant, AStandingQueueStillShrinksTheWindowThroughDelaySpikes) {
  // The same spikes on top of a standing queue (every other sample 150 us > 50 + 50 us target).
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  TimePoint now{};
  controller->on_ack({.now = now, .bytes_acked = 90 * kDatagram, .rtt_sample = 50us});  // base RTT, cwnd 100
  for (int i = 0; i < 400; ++i) {
    now += 5us;
    const Duration sample = i % 4 == 3 ? Duration(2ms) : Duration(150us);
    controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = sample, .largest_acked_sent_time = now - sample});
  }
  EXPECT_GT(state.congestion_events, 0u);
  EXPECT_LT(state.cwnd_bytes, 100 * kDatagram);
}

TEST(LossTolerant, EcnAndPersistentCongestionStillCount) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  TimePoint now{};
  controller->on_ack({.now = now, .bytes_acked = 10 * kDatagram, .rtt_sample = 100us});
  controller->on_ecn({.now = now + 1ms, .ce_marks = 3});
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);  // 20 datagrams halved
  controller->on_loss({.now = now + 50ms, .bytes_lost = kDatagram, .persistent_congestion = true});
  EXPECT_EQ(state.cwnd_bytes, 2 * kDatagram);
}

TEST(LossTolerant, PacingRateFollowsWindowOverSmoothedRtt) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  controller->on_ack({.now = TimePoint{} + 1ms, .bytes_acked = kDatagram, .rtt_sample = 80us});
  EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 1.25 * static_cast<double>(state.cwnd_bytes) / 80e-6);
}

TEST(LossTolerant, PacingFollowsTheRoundMinimumNotTheSmoothedRttOfStalls) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, kFabricOnly);
  TimePoint now{};
  // Rounds of 60 us samples with every fourth delayed 4 ms by a receiver stall: the smoothed
  // RTT is lifted far above 60 us, the round minimum is not.
  for (int i = 0; i < 400; ++i) {
    now += 10us;
    const Duration sample = i % 4 == 3 ? Duration(4ms) : Duration(60us);
    controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = sample, .largest_acked_sent_time = now - sample});
  }
  ASSERT_GT(state.smoothed_rtt, 300us);
  EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 1.25 * static_cast<double>(state.cwnd_bytes) / 60e-6);
}

TEST(LossTolerantOnAPath, KeepsTheLinkBusyUnderRandomLossWhereAimdDoesNot) {
  testing::PathModel path;
  path.random_loss = 0.01;
  TransportState tolerant_state, aimd_state;
  auto tolerant = CongestionControllerRegistry::global().create("loss-tolerant", tolerant_state, kFabricOnly);
  auto aimd = CongestionControllerRegistry::global().create("aimd", aimd_state);
  auto tolerant_result = testing::run_path(*tolerant, tolerant_state, path, 3000);
  auto aimd_result = testing::run_path(*aimd, aimd_state, path, 3000);
  std::printf("path model, 1%% random loss: utilization loss-tolerant %.3f, aimd %.3f (ratio %.2f)\n",
              tolerant_result.utilization, aimd_result.utilization, tolerant_result.utilization / aimd_result.utilization);
  EXPECT_GT(tolerant_result.utilization, 0.9);
  EXPECT_GT(tolerant_result.utilization, aimd_result.utilization * 1.3);
}

TEST(LossTolerantOnAPath, HoldsTheQueueNearItsTargetInsteadOfFillingTheBuffer) {
  testing::PathModel path;  // 50 us base RTT, 256 KiB buffer (~210 us of queue at 10 Gbit/s)
  TransportState tolerant_state, aimd_state;
  auto tolerant = CongestionControllerRegistry::global().create("loss-tolerant", tolerant_state, kFabricOnly);
  auto aimd = CongestionControllerRegistry::global().create("aimd", aimd_state);
  auto tolerant_result = testing::run_path(*tolerant, tolerant_state, path, 3000);
  auto aimd_result = testing::run_path(*aimd, aimd_state, path, 3000);
  std::printf("path model, no random loss: mean RTT loss-tolerant %.1f us, aimd %.1f us; utilization %.3f / %.3f\n",
              tolerant_result.mean_rtt_us, aimd_result.mean_rtt_us, tolerant_result.utilization, aimd_result.utilization);
  EXPECT_LT(tolerant_result.mean_rtt_us, 50 + 2 * 50);  // base + about the 50 us target
  EXPECT_EQ(tolerant_result.losses, 0u);
  EXPECT_GT(aimd_result.mean_rtt_us, tolerant_result.mean_rtt_us);  // Reno fills the buffer
  EXPECT_GT(tolerant_result.utilization, 0.9);
}

}  // namespace
}  // namespace tmc

namespace tmc {
namespace {

// The default endpoint_delay (200 us) is host processing, not queue: RTT samples 150 us above
// the base never shrink the window, while the same samples with endpoint_delay 0 do.
TEST(LossTolerant, EndpointDelayIsNotReadAsQueue) {
  auto events_with = [](const CongestionParams& params) {
    TransportState state;
    auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state, params);
    TimePoint now{};
    controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 30us, .largest_acked_sent_time = now});
    for (int i = 0; i < 400; ++i) {
      now += 200us;
      controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 180us, .largest_acked_sent_time = now - 180us});
    }
    return state.congestion_events;
  };
  EXPECT_EQ(events_with({}), 0u);
  EXPECT_GT(events_with(kFabricOnly), 0u);
  TransportState state;
  EXPECT_THROW(CongestionControllerRegistry::global().create("loss-tolerant", state, {{"endpoint_delay", "fast"}}),
               CongestionConfigError);
}

}  // namespace
}  // namespace tmc
