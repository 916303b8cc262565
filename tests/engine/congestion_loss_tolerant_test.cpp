// loss-tolerant (delay-based) with synthetic event sequences on a mock clock.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/congestion_path_model.h"
#include "tmc/congestion.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

constexpr std::uint64_t kDatagram = 1472;

TEST(LossTolerant, RandomLossDoesNotShrinkTheWindow) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state);
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

TEST(LossTolerant, QueueingDelayAboveTargetDecreasesBoundedAndOncePerRtt) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create(
      "loss-tolerant", state, {{"target_queue_delay", "50us"}, {"beta", "0.8"}, {"max_decrease", "0.5"}});
  TimePoint now{};
  // Learn the base RTT (100 us) during slow start.
  controller->on_ack({.now = now, .bytes_acked = 10 * kDatagram, .rtt_sample = 100us});
  ASSERT_EQ(state.cwnd_bytes, 20 * kDatagram);
  // RTT 200 us: excess over target (150 us) is 50 us -> factor 1 - 0.8 * 50/200 = 0.8.
  now += 200us;
  controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 200us});
  EXPECT_EQ(state.cwnd_bytes, static_cast<std::uint64_t>(20 * kDatagram * 0.8));
  std::uint64_t after_first = state.cwnd_bytes;
  // Within the same RTT no further decrease.
  controller->on_ack({.now = now + 10us, .bytes_acked = kDatagram, .rtt_sample = 1000us});
  EXPECT_EQ(state.cwnd_bytes, after_first);
  // A huge delay is capped at max_decrease (halving).
  now += 5ms;  // more than the smoothed RTT, which this 10 ms sample raises to ~1.4 ms
  controller->on_ack({.now = now, .bytes_acked = kDatagram, .rtt_sample = 10ms});
  EXPECT_EQ(state.cwnd_bytes, after_first / 2);
  EXPECT_EQ(state.congestion_events, 2u);
  // Below target again: additive increase, one datagram per window acknowledged (not slow start).
  std::uint64_t window = state.cwnd_bytes;
  now += 1ms;
  controller->on_ack({.now = now, .bytes_acked = window, .rtt_sample = 100us});
  EXPECT_NEAR(static_cast<double>(state.cwnd_bytes), static_cast<double>(window + kDatagram), 1.0);
}

TEST(LossTolerant, EcnAndPersistentCongestionStillCount) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state);
  TimePoint now{};
  controller->on_ack({.now = now, .bytes_acked = 10 * kDatagram, .rtt_sample = 100us});
  controller->on_ecn({.now = now + 1ms, .ce_marks = 3});
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);  // 20 datagrams halved
  controller->on_loss({.now = now + 50ms, .bytes_lost = kDatagram, .persistent_congestion = true});
  EXPECT_EQ(state.cwnd_bytes, 2 * kDatagram);
}

TEST(LossTolerant, PacingRateFollowsWindowOverSmoothedRtt) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("loss-tolerant", state);
  controller->on_ack({.now = TimePoint{} + 1ms, .bytes_acked = kDatagram, .rtt_sample = 80us});
  EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 1.25 * static_cast<double>(state.cwnd_bytes) / 80e-6);
}

TEST(LossTolerantOnAPath, KeepsTheLinkBusyUnderRandomLossWhereAimdDoesNot) {
  testing::PathModel path;
  path.random_loss = 0.01;
  TransportState tolerant_state, aimd_state;
  auto tolerant = CongestionControllerRegistry::global().create("loss-tolerant", tolerant_state);
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
  auto tolerant = CongestionControllerRegistry::global().create("loss-tolerant", tolerant_state);
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
