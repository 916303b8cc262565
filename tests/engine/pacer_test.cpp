// Token bucket and pacer on a mock clock.
#include <gtest/gtest.h>

#include "pacing/pacer.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

// Sends `bytes`-sized packets as fast as the pacer allows for `span`; returns bytes sent.
std::uint64_t drive(Pacer& pacer, std::uint64_t bytes, TimePoint start, Duration span, TokenBucket* message = nullptr) {
  TimePoint now = start;
  std::uint64_t sent = 0;
  for (int step = 0; step < 1000000 && now < start + span; ++step) {
    Duration wait = pacer.time_until_send(bytes, now, message);
    if (wait > Duration::zero()) {
      now += wait;
      continue;
    }
    pacer.on_sent(bytes, now, message);
    sent += bytes;
  }
  return sent;
}

TEST(TokenBucket, BurstThenRate) {
  TimePoint t0{};
  TokenBucket bucket(1e6, 10000, t0);  // 1 MB/s, 10 kB burst
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(bucket.time_until_send(1000, t0), Duration::zero());
    bucket.on_sent(1000, t0);
  }
  EXPECT_EQ(bucket.time_until_send(1000, t0), 1ms);  // 1000 bytes at 1 MB/s
  EXPECT_EQ(bucket.time_until_send(1000, t0 + 1ms), Duration::zero());
  // Idle time never accrues more than the burst.
  EXPECT_EQ(bucket.time_until_send(10000, t0 + 1h), Duration::zero());
  bucket.on_sent(10000, t0 + 1h);
  EXPECT_GT(bucket.time_until_send(1, t0 + 1h), Duration::zero());
}

TEST(TokenBucket, PacketLargerThanBurstGoesWhenFullAndRepaysTheDebt) {
  TimePoint t0{};
  TokenBucket bucket(1e6, 1000, t0);
  EXPECT_EQ(bucket.time_until_send(5000, t0), Duration::zero());
  bucket.on_sent(5000, t0);
  // 4000 bytes of debt + 1000 for the next full burst: 5 ms.
  EXPECT_EQ(bucket.time_until_send(5000, t0), 5ms);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket bucket(0, 0, TimePoint{});
  EXPECT_EQ(bucket.time_until_send(1 << 30, TimePoint{}), Duration::zero());
}

TEST(Pacer, ManifestRateHoldsOverOneSecond) {
  TimePoint t0{};
  Pacer pacer(Pacing{.rate_bytes_per_second = 10e6, .burst_bytes = 16 * 1024}, nullptr, t0);
  std::uint64_t sent = drive(pacer, 1472, t0, 1s);
  EXPECT_NEAR(static_cast<double>(sent), 10e6 + 16 * 1024, 2 * 1472.0);
}

TEST(Pacer, LowerOfManifestAndCongestionControllerRateWins) {
  TimePoint t0{};
  TransportState transport;
  Pacer pacer(Pacing{.rate_bytes_per_second = 10e6, .burst_bytes = 1472}, &transport, t0);
  EXPECT_EQ(pacer.effective_rate(), 10e6);
  transport.pacing_rate_bytes_per_sec = 2e6;  // written by the congestion controller
  EXPECT_EQ(pacer.effective_rate(), 2e6);
  std::uint64_t sent = drive(pacer, 1472, t0, 100ms);
  EXPECT_NEAR(static_cast<double>(sent), 2e6 * 0.1, 2 * 1472.0);
  transport.pacing_rate_bytes_per_sec = 50e6;
  EXPECT_EQ(pacer.effective_rate(), 10e6);
  // Unpaced manifest: the controller's rate alone.
  pacer.set_channel_pacing(Pacing{.rate_bytes_per_second = 0, .burst_bytes = 1472}, t0 + 100ms);
  EXPECT_EQ(pacer.effective_rate(), 50e6);
  transport.pacing_rate_bytes_per_sec = 0;
  EXPECT_EQ(pacer.effective_rate(), 0);
  EXPECT_EQ(pacer.time_until_send(1 << 20, t0 + 100ms), Duration::zero());
}

TEST(Pacer, PerMessageBucketSlowsOnlyThatMessage) {
  TimePoint t0{};
  Pacer pacer(Pacing{.rate_bytes_per_second = 100e6, .burst_bytes = 1472}, nullptr, t0);
  TokenBucket slow = Pacer::message_bucket(Pacing{.rate_bytes_per_second = 1e6, .burst_bytes = 1472}, t0);
  std::uint64_t slow_sent = drive(pacer, 1472, t0, 100ms, &slow);
  EXPECT_NEAR(static_cast<double>(slow_sent), 1e6 * 0.1, 2 * 1472.0);
  std::uint64_t fast_sent = drive(pacer, 1472, t0 + 100ms, 100ms);
  EXPECT_NEAR(static_cast<double>(fast_sent), 100e6 * 0.1, 2 * 1472.0);
}

}  // namespace
}  // namespace tmc
