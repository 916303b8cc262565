// aimd (Reno-like) with synthetic event sequences on a mock clock.
#include <gtest/gtest.h>

#include "engine/congestion_path_model.h"
#include "tmc/congestion.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

constexpr std::uint64_t kDatagram = 1472;

struct Aimd : ::testing::Test {
  TransportState state;
  std::unique_ptr<CongestionController> controller = CongestionControllerRegistry::global().create("aimd", state);
  TimePoint t0{};

  // Sends a full window at `now`; returns the bytes sent.
  std::uint64_t send_window(TimePoint now) {
    std::uint64_t sent = 0;
    while (controller->can_send(kDatagram)) {
      controller->on_packet_sent({.now = now, .bytes = kDatagram});
      sent += kDatagram;
    }
    return sent;
  }
};

TEST_F(Aimd, InitialWindowIsTenDatagramsPerRfc6928) {
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);  // min(10 * 1472, max(14720, 2 * 1472))
  EXPECT_EQ(send_window(t0), 10 * kDatagram);
  EXPECT_FALSE(controller->can_send(kDatagram));
}

TEST_F(Aimd, SlowStartDoublesPerRoundTrip) {
  TimePoint now = t0;
  for (int round = 0; round < 4; ++round) {
    std::uint64_t window = state.cwnd_bytes;
    std::uint64_t sent = send_window(now);
    TimePoint sent_at = now;
    now += 100us;
    controller->on_ack({.now = now, .bytes_acked = sent, .rtt_sample = 100us, .largest_acked_sent_time = sent_at});
    EXPECT_EQ(state.cwnd_bytes, window + sent);
  }
  EXPECT_EQ(state.cwnd_bytes, 160 * kDatagram);
  // Slow start paces at twice cwnd / srtt.
  EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 2.0 * static_cast<double>(state.cwnd_bytes) / 100e-6);
}

TEST_F(Aimd, LossHalvesOncePerRecoveryPeriodThenAddsOneDatagramPerWindow) {
  TimePoint now = t0;
  send_window(now);
  now += 100us;
  controller->on_ack({.now = now, .bytes_acked = 10 * kDatagram, .rtt_sample = 100us, .largest_acked_sent_time = t0});
  ASSERT_EQ(state.cwnd_bytes, 20 * kDatagram);

  TimePoint round_start = now;
  send_window(round_start);
  now += 100us;
  controller->on_loss({.now = now, .bytes_lost = kDatagram, .largest_lost_sent_time = round_start});
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);
  EXPECT_EQ(state.ssthresh_bytes, 10 * kDatagram);
  EXPECT_EQ(state.congestion_events, 1u);
  // A second loss from the same flight is part of the same congestion event.
  controller->on_loss({.now = now + 1us, .bytes_lost = kDatagram, .largest_lost_sent_time = round_start});
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);
  EXPECT_EQ(state.congestion_events, 1u);
  // Acks for packets sent before recovery began do not grow the window (RFC 9002 §7.3.2).
  controller->on_ack({.now = now + 2us, .bytes_acked = 18 * kDatagram, .rtt_sample = 100us,
                      .largest_acked_sent_time = round_start});
  EXPECT_EQ(state.cwnd_bytes, 10 * kDatagram);
  EXPECT_EQ(state.bytes_in_flight, 0u);

  // Congestion avoidance: + one datagram per window of acknowledged bytes.
  now += 10us;
  for (int round = 0; round < 3; ++round) {
    TimePoint sent_at = now;
    std::uint64_t window = state.cwnd_bytes;
    std::uint64_t sent = send_window(sent_at);
    now += 100us;
    controller->on_ack({.now = now, .bytes_acked = sent, .rtt_sample = 100us, .largest_acked_sent_time = sent_at});
    EXPECT_EQ(state.cwnd_bytes, window + kDatagram);
  }
  // A loss of a packet sent after recovery started is a new congestion event.
  TimePoint sent_at = now;
  send_window(sent_at);
  now += 100us;
  controller->on_loss({.now = now, .bytes_lost = kDatagram, .largest_lost_sent_time = sent_at});
  EXPECT_EQ(state.cwnd_bytes, 13 * kDatagram / 2);
  EXPECT_EQ(state.congestion_events, 2u);
}

TEST_F(Aimd, EcnCeIsACongestionSignalAndPersistentCongestionCollapsesToTheMinimumWindow) {
  TimePoint now = t0 + 1ms;
  send_window(t0);
  controller->on_ecn({.now = now, .ce_marks = 1, .largest_acked_sent_time = t0});
  EXPECT_EQ(state.cwnd_bytes, 5 * kDatagram);
  EXPECT_EQ(state.ecn_ce_marks, 1u);
  controller->on_loss({.now = now + 10ms, .bytes_lost = 5 * kDatagram, .packets_lost = 5,
                       .largest_lost_sent_time = now + 1ms, .persistent_congestion = true});
  EXPECT_EQ(state.cwnd_bytes, 2 * kDatagram);  // RFC 9002 §7.2 kMinimumWindow
  EXPECT_EQ(state.packets_lost, 5u);
}

TEST(AimdOnAPath, RandomLossCollapsesItsThroughput) {
  TransportState clean_state, lossy_state;
  auto clean = CongestionControllerRegistry::global().create("aimd", clean_state);
  auto lossy = CongestionControllerRegistry::global().create("aimd", lossy_state);
  testing::PathModel path;
  auto clean_result = testing::run_path(*clean, clean_state, path, 3000);
  path.random_loss = 0.01;
  auto lossy_result = testing::run_path(*lossy, lossy_state, path, 3000);
  EXPECT_GT(clean_result.utilization, 0.9);
  EXPECT_LT(lossy_result.utilization, 0.7) << "Reno-like control should mistake random loss for congestion";
}

}  // namespace
}  // namespace tmc
