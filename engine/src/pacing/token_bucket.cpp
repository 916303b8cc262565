#include "pacing/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace tmc {

TokenBucket::TokenBucket(double rate_bytes_per_sec, std::uint64_t burst_bytes, TimePoint now)
    : rate_(rate_bytes_per_sec), burst_(burst_bytes), tokens_(static_cast<double>(burst_bytes)), last_(now) {}

void TokenBucket::configure(double rate_bytes_per_sec, std::uint64_t burst_bytes, TimePoint now) {
  refill(now);
  rate_ = rate_bytes_per_sec;
  burst_ = burst_bytes;
  tokens_ = std::min(tokens_, static_cast<double>(burst_));
}

void TokenBucket::refill(TimePoint now) {
  if (now > last_) {
    if (rate_ > 0) {
      double elapsed = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(static_cast<double>(burst_), tokens_ + elapsed * rate_);
    }
    last_ = now;
  }
}

Duration TokenBucket::time_until_send(std::uint64_t bytes, TimePoint now) {
  if (unlimited()) return Duration::zero();
  refill(now);
  double needed = static_cast<double>(std::min(bytes, burst_));
  if (tokens_ >= needed) return Duration::zero();
  double seconds = (needed - tokens_) / rate_;
  return std::max(Duration(1), Duration(static_cast<std::int64_t>(std::ceil(seconds * 1e9))));
}

void TokenBucket::on_sent(std::uint64_t bytes, TimePoint now) {
  if (unlimited()) return;
  refill(now);
  tokens_ -= static_cast<double>(bytes);
}

}  // namespace tmc
