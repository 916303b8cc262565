// core/rtt_estimator: RFC 6298 section 2 arithmetic (alpha 1/8, beta 1/4, K 4, G 1 us), clamping
// to the manifest's bounds, section 5.5 backoff limited to kMaxBackoffs, and RttSamples
// percentiles over a ring.
#include <gtest/gtest.h>

#include "core/rtt_estimator.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

RttEstimator::Bounds wide_bounds() { return {.min_rto = 0ns, .max_rto = 10s, .initial_rto = 1ms}; }

TEST(RttEstimator, InitialRtoBeforeAnySample) {
  RttEstimator rtt(wide_bounds());
  EXPECT_FALSE(rtt.has_sample());
  EXPECT_EQ(rtt.rto(), 1ms);
}

TEST(RttEstimator, InitialRtoIsClampedToBounds) {
  EXPECT_EQ(RttEstimator({.min_rto = 5ms, .max_rto = 10ms, .initial_rto = 1ms}).rto(), 5ms);
  EXPECT_EQ(RttEstimator({.min_rto = 0ms, .max_rto = 10ms, .initial_rto = 1s}).rto(), 10ms);
}

TEST(RttEstimator, FirstSampleSetsSmoothedAndHalfVariation) {
  // RFC 6298 2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4 * RTTVAR).
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);
  EXPECT_TRUE(rtt.has_sample());
  EXPECT_EQ(rtt.smoothed(), 100us);
  EXPECT_EQ(rtt.variation(), 50us);
  EXPECT_EQ(rtt.rto(), 300us);
}

TEST(RttEstimator, LaterSamplesFollowRfc6298Update) {
  // RFC 6298 2.3: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R.
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);
  rtt.on_sample(200us);
  EXPECT_EQ(rtt.variation(), 62500ns);   // (3 * 50 + 100) / 4
  EXPECT_EQ(rtt.smoothed(), 112500ns);   // (7 * 100 + 200) / 8
  EXPECT_EQ(rtt.rto(), 112500ns + 4 * 62500ns);
  rtt.on_sample(50us);
  // |112.5 - 50| = 62.5; RTTVAR = (3 * 62.5 + 62.5) / 4 = 62.5; SRTT = (7 * 112.5 + 50) / 8 = 104.6875
  EXPECT_EQ(rtt.variation(), 62500ns);
  EXPECT_EQ(rtt.smoothed(), 104687ns);  // integer nanoseconds: 837500 / 8 = 104687.5 truncated
  EXPECT_EQ(rtt.rto(), 104687ns + 250000ns);
}

TEST(RttEstimator, ConvergesToAConstantRtt) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(10ms);
  for (int i = 0; i < 200; ++i) rtt.on_sample(1ms);
  const double smoothed_us = std::chrono::duration<double, std::micro>(rtt.smoothed()).count();
  EXPECT_NEAR(smoothed_us, 1000.0, 1.0);
  EXPECT_LT(rtt.variation(), 5us);
}

TEST(RttEstimator, ClockGranularityFloorsTheVarianceTerm) {
  // A zero RTT gives RTTVAR 0: the RTO is SRTT + G, G = 1 us.
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(0ns);
  EXPECT_EQ(rtt.rto(), 1us);
}

TEST(RttEstimator, NegativeSampleIsIgnored) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(-5us);
  EXPECT_FALSE(rtt.has_sample());
  EXPECT_EQ(rtt.rto(), 1ms);
}

TEST(RttEstimator, RtoIsClampedToMinimumAndMaximum) {
  RttEstimator low({.min_rto = 200us, .max_rto = 200ms, .initial_rto = 1ms});
  low.on_sample(10us);  // 10 + 4 * 5 = 30 us
  EXPECT_EQ(low.rto(), 200us);
  EXPECT_EQ(low.smoothed(), 10us);  // the estimate itself is not clamped
  RttEstimator high({.min_rto = 200us, .max_rto = 200ms, .initial_rto = 1ms});
  high.on_sample(1s);
  EXPECT_EQ(high.rto(), 200ms);
}

TEST(RttEstimator, BackoffDoublesAtMostKMaxBackoffsTimes) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);  // RTO 300 us
  Duration expected = 300us;
  for (int i = 0; i < RttEstimator::kMaxBackoffs; ++i) {
    rtt.on_timeout();
    expected *= 2;
    EXPECT_EQ(rtt.rto(), expected) << "backoff " << i + 1;
  }
  EXPECT_EQ(rtt.rto(), 300us * (1 << RttEstimator::kMaxBackoffs));
  for (int i = 0; i < 5; ++i) rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), 300us * (1 << RttEstimator::kMaxBackoffs)) << "backoff beyond kMaxBackoffs";
}

TEST(RttEstimator, BackoffIsClampedToMaximum) {
  RttEstimator rtt({.min_rto = 0ns, .max_rto = 500us, .initial_rto = 1ms});
  rtt.on_sample(100us);  // 300 us
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), 500us);
}

TEST(RttEstimator, BackoffFromInitialRtoBeforeSamples) {
  RttEstimator rtt(wide_bounds());
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), 2ms);
}

TEST(RttEstimator, SampleResetsBackoff) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);
  for (int i = 0; i < RttEstimator::kMaxBackoffs; ++i) rtt.on_timeout();
  ASSERT_EQ(rtt.rto(), 2400us);
  rtt.on_sample(100us);  // SRTT 100, RTTVAR 37.5 -> RTO 250 us: computed afresh, not backed off
  EXPECT_EQ(rtt.rto(), 250us);
  // The backoff budget is whole again.
  for (int i = 0; i < RttEstimator::kMaxBackoffs; ++i) rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), 2000us);
  rtt.on_timeout();
  EXPECT_EQ(rtt.rto(), 2000us);
}

// RFC 9002 6.2.1: an acknowledgement without a sample (Karn) still ends the backoff.
TEST(RttEstimator, ResetBackoffReturnsToTheComputedTimeout) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);  // RTO 300 us
  rtt.on_timeout();
  rtt.on_timeout();
  ASSERT_EQ(rtt.rto(), 1200us);
  rtt.reset_backoff();
  EXPECT_EQ(rtt.rto(), 300us);
  rtt.reset_backoff();  // nothing to reset
  EXPECT_EQ(rtt.rto(), 300us);
  RttEstimator fresh(wide_bounds());
  fresh.on_timeout();
  fresh.reset_backoff();
  EXPECT_EQ(fresh.rto(), 1ms) << "initial RTO before any sample";
}

TEST(RttEstimator, LatestSampleIsKept) {
  RttEstimator rtt(wide_bounds());
  rtt.on_sample(100us);
  rtt.on_sample(900us);
  EXPECT_EQ(rtt.latest(), 900us);
  EXPECT_LT(rtt.smoothed(), 900us);
}

TEST(RttEstimator, SetBoundsRecomputesTheRto) {
  RttEstimator rtt(wide_bounds());
  rtt.set_bounds({.min_rto = 0ns, .max_rto = 10s, .initial_rto = 3ms});
  EXPECT_EQ(rtt.rto(), 3ms);
  rtt.on_sample(100us);
  rtt.set_bounds({.min_rto = 1ms, .max_rto = 10s, .initial_rto = 3ms});
  EXPECT_EQ(rtt.rto(), 1ms);
  rtt.set_bounds({.min_rto = 0ns, .max_rto = 10s, .initial_rto = 3ms});
  EXPECT_EQ(rtt.rto(), 300us);
}

TEST(RttSamples, EmptyPercentileIsZero) {
  RttSamples samples(8);
  EXPECT_EQ(samples.size(), 0u);
  EXPECT_EQ(samples.percentile(0.5), 0ns);
}

TEST(RttSamples, PercentilesOfOneToOneHundred) {
  RttSamples samples(128);
  // Insert in a scrambled order: percentiles must not depend on arrival order.
  for (int i = 0; i < 100; ++i) samples.add(Duration((i * 37) % 100 + 1));
  EXPECT_EQ(samples.size(), 100u);
  EXPECT_EQ(samples.percentile(0.0), 1ns);
  EXPECT_EQ(samples.percentile(1.0), 100ns);
  EXPECT_EQ(samples.percentile(0.5), 51ns);   // index round(0.5 * 99) = 50
  EXPECT_EQ(samples.percentile(0.99), 99ns);  // index round(98.01) = 98
  EXPECT_EQ(samples.percentile(0.9), 90ns);   // index round(89.1) = 89
}

TEST(RttSamples, SingleSampleIsEveryPercentile) {
  RttSamples samples(4);
  samples.add(7us);
  EXPECT_EQ(samples.percentile(0.0), 7us);
  EXPECT_EQ(samples.percentile(0.5), 7us);
  EXPECT_EQ(samples.percentile(1.0), 7us);
}

TEST(RttSamples, RingKeepsOnlyTheNewestCapacitySamples) {
  RttSamples samples(4);
  for (int i = 1; i <= 6; ++i) samples.add(Duration(i));  // holds 3, 4, 5, 6
  EXPECT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples.percentile(0.0), 3ns);
  EXPECT_EQ(samples.percentile(1.0), 6ns);
  for (int i = 7; i <= 9; ++i) samples.add(Duration(i));  // wraps again: 7, 8, 9, 6
  EXPECT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples.percentile(0.0), 6ns);
  EXPECT_EQ(samples.percentile(1.0), 9ns);
  // 1000 more: only the last four remain.
  for (int i = 10; i < 1010; ++i) samples.add(Duration(i));
  EXPECT_EQ(samples.percentile(0.0), 1006ns);
  EXPECT_EQ(samples.percentile(1.0), 1009ns);
}

}  // namespace
}  // namespace tmc::core
