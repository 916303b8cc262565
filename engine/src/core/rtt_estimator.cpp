#include "core/rtt_estimator.h"

#include <algorithm>

namespace tmc::core {
namespace {
// RFC 6298 section 2: alpha = 1/8, beta = 1/4, K = 4.
constexpr int kAlphaDenominator = 8;
constexpr int kBetaDenominator = 4;
constexpr int kK = 4;
// RFC 6298 G (clock granularity): our timers are nanosecond-based; one microsecond.
constexpr Duration kGranularity = std::chrono::microseconds(1);
}  // namespace

RttEstimator::RttEstimator(Bounds bounds) : bounds_(bounds), rto_(clamp(bounds.initial_rto)) {}

Duration RttEstimator::clamp(Duration rto) const { return std::clamp(rto, bounds_.min_rto, bounds_.max_rto); }

void RttEstimator::set_bounds(Bounds bounds) {
  bounds_ = bounds;
  rto_ = has_sample_ ? clamp(smoothed_ + std::max(kGranularity, kK * variation_)) : clamp(bounds.initial_rto);
}

void RttEstimator::on_sample(Duration rtt) {
  if (rtt < Duration::zero()) return;
  latest_ = rtt;
  if (!has_sample_) {
    // 2.2: SRTT <- R, RTTVAR <- R/2
    smoothed_ = rtt;
    variation_ = rtt / 2;
    has_sample_ = true;
  } else {
    // 2.3: RTTVAR <- (1 - beta) RTTVAR + beta |SRTT - R'|; SRTT <- (1 - alpha) SRTT + alpha R'
    const Duration delta = smoothed_ > rtt ? smoothed_ - rtt : rtt - smoothed_;
    variation_ = (variation_ * (kBetaDenominator - 1) + delta) / kBetaDenominator;
    smoothed_ = (smoothed_ * (kAlphaDenominator - 1) + rtt) / kAlphaDenominator;
  }
  rto_ = clamp(smoothed_ + std::max(kGranularity, kK * variation_));
  backoffs_ = 0;
}

void RttEstimator::on_timeout() {
  if (backoffs_ >= kMaxBackoffs) return;
  ++backoffs_;
  rto_ = clamp(rto_ * 2);
}

void RttEstimator::reset_backoff() {
  if (backoffs_ == 0) return;
  backoffs_ = 0;
  rto_ = has_sample_ ? clamp(smoothed_ + std::max(kGranularity, kK * variation_)) : clamp(bounds_.initial_rto);
}

void RttSamples::add(Duration sample) {
  if (samples_.size() < capacity_) {
    samples_.push_back(sample);
  } else {
    samples_[next_] = sample;
    next_ = (next_ + 1) % capacity_;
  }
}

Duration RttSamples::percentile(double p) const {
  if (samples_.empty()) return Duration::zero();
  std::vector<Duration> sorted = samples_;
  const auto index = std::min(sorted.size() - 1, static_cast<std::size_t>(p * (sorted.size() - 1) + 0.5));
  std::nth_element(sorted.begin(), sorted.begin() + index, sorted.end());
  return sorted[index];
}

}  // namespace tmc::core
