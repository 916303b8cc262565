// Test helper: a round-based model of one bottleneck path driving a CongestionController with
// synthetic events on a mock clock. Each round sends what the window allows, queues the excess
// over the bandwidth-delay product (RTT grows with the queue), tail-drops beyond the buffer,
// drops the rest at random with `random_loss`, then delivers the acks one RTT later.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

#include "tmc/congestion.h"

namespace tmc::testing {

struct PathModel {
  double bandwidth_bytes_per_sec = 1.25e9;  // 10 Gbit/s
  Duration base_rtt = std::chrono::microseconds(50);
  std::uint64_t buffer_bytes = 256 * 1024;  // switch buffer before tail drop
  double random_loss = 0;
  std::uint32_t seed = 1;
};

struct PathResult {
  double utilization = 0;      // delivered bytes / (bandwidth * elapsed)
  double mean_rtt_us = 0;      // mean RTT sample
  std::uint64_t losses = 0;
  std::uint64_t final_cwnd = 0;
};

inline PathResult run_path(CongestionController& controller, TransportState& state, const PathModel& path, int rounds,
                           TimePoint start = TimePoint{}) {
  std::mt19937_64 random(path.seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  const std::uint64_t datagram = state.max_datagram_bytes;
  const double bdp = path.bandwidth_bytes_per_sec * std::chrono::duration<double>(path.base_rtt).count();
  TimePoint now = start;
  double delivered = 0, rtt_sum = 0;
  std::uint64_t rtt_count = 0, losses = 0;
  for (int round = 0; round < rounds; ++round) {
    const TimePoint sent_at = now;
    std::uint64_t packets = 0;
    while (controller.can_send(datagram) && packets < 100000) {
      controller.on_packet_sent({.now = now, .bytes = datagram, .packet_number = packets});
      ++packets;
    }
    const double in_flight = static_cast<double>(packets * datagram);
    const double queued = std::min(std::max(0.0, in_flight - bdp), static_cast<double>(path.buffer_bytes));
    const Duration rtt = path.base_rtt + std::chrono::duration_cast<Duration>(
                                             std::chrono::duration<double>(queued / path.bandwidth_bytes_per_sec));
    // Packets beyond BDP + buffer are tail-dropped.
    const auto capacity = static_cast<std::uint64_t>((bdp + static_cast<double>(path.buffer_bytes)) / datagram);
    now += std::max(rtt, std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                             in_flight / path.bandwidth_bytes_per_sec)));
    for (std::uint64_t packet = 0; packet < packets; ++packet) {
      bool lost = packet >= capacity || uniform(random) < path.random_loss;
      if (lost) {
        controller.on_loss({.now = now, .bytes_lost = datagram, .packets_lost = 1, .largest_lost_sent_time = sent_at});
        ++losses;
      } else {
        controller.on_ack({.now = now, .bytes_acked = datagram, .rtt_sample = rtt, .largest_acked_sent_time = sent_at});
        delivered += static_cast<double>(datagram);
        rtt_sum += std::chrono::duration<double, std::micro>(rtt).count();
        ++rtt_count;
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(now - start).count();
  return {.utilization = delivered / (path.bandwidth_bytes_per_sec * elapsed),
          .mean_rtt_us = rtt_count ? rtt_sum / static_cast<double>(rtt_count) : 0,
          .losses = losses,
          .final_cwnd = state.cwnd_bytes};
}

}  // namespace tmc::testing
