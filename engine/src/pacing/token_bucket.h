// Token bucket (rate, burst) on a caller-supplied clock. Tokens are bytes; they refill at
// `rate` up to `burst`. A packet may leave when the bucket holds min(bytes, burst) tokens, and
// sending takes `bytes` tokens (the level may go negative for packets larger than the burst,
// which keeps the long-run rate exact). rate 0 = unlimited.
#pragma once

#include <cstdint>

#include "tmc/congestion.h"

namespace tmc {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double rate_bytes_per_sec, std::uint64_t burst_bytes, TimePoint now);

  // Changes rate or burst; tokens accrued so far at the old rate are kept (capped at the burst).
  void configure(double rate_bytes_per_sec, std::uint64_t burst_bytes, TimePoint now);
  // Zero when `bytes` may be sent at `now`, else the wait until it may.
  Duration time_until_send(std::uint64_t bytes, TimePoint now);
  void on_sent(std::uint64_t bytes, TimePoint now);

  double rate() const { return rate_; }
  std::uint64_t burst() const { return burst_; }
  bool unlimited() const { return rate_ <= 0; }

 private:
  void refill(TimePoint now);
  double rate_ = 0;
  std::uint64_t burst_ = 0;
  double tokens_ = 0;
  TimePoint last_{};
};

}  // namespace tmc
