// Round-trip time estimate and retransmission timeout, RFC 6298 section 2, with bounds chosen by
// the manifest (datacenter minimum in the hundreds of microseconds instead of RFC 6298's 1 s) and
// exponential backoff on timeout (section 5.5), limited to kMaxBackoffs doublings: in a datacenter
// a timeout is far more often random loss than congestion, and backing off is the congestion
// controller's decision, not the retransmission timer's (the seed's point about TCP coupling the
// two). Also keeps recent samples for percentiles.
#pragma once

#include <cstddef>
#include <vector>

#include "core/clock.h"

namespace tmc::core {

class RttEstimator {
 public:
  static constexpr int kMaxBackoffs = 3;  // RTO grows to at most 8x its computed value
  struct Bounds {
    Duration min_rto;
    Duration max_rto;
    Duration initial_rto;
  };
  explicit RttEstimator(Bounds bounds);

  void on_sample(Duration rtt);  // from a packet transmitted once (Karn's algorithm)
  void on_timeout();             // RFC 6298 5.5 / RFC 9002 6.2.1: back off the timer
  // RFC 9002 6.2.1: an acknowledgement of new data resets the backoff (the timer returns to
  // its computed value) even when Karn's rule gave no sample.
  void reset_backoff();
  Duration latest() const { return latest_; }  // latest sample (RFC 9002 5.1 latest_rtt)
  Duration rto() const { return rto_; }
  Duration smoothed() const { return smoothed_; }
  Duration variation() const { return variation_; }
  bool has_sample() const { return has_sample_; }
  void set_bounds(Bounds bounds);

 private:
  Duration clamp(Duration rto) const;
  Bounds bounds_;
  bool has_sample_ = false;
  Duration smoothed_{0};
  Duration variation_{0};
  Duration latest_{0};
  Duration rto_;
  int backoffs_ = 0;
};

// Fixed-size ring of recent RTT samples; percentiles over what it holds.
class RttSamples {
 public:
  explicit RttSamples(std::size_t capacity = 4096) : capacity_(capacity) { samples_.reserve(capacity); }
  void add(Duration sample);
  Duration percentile(double p) const;  // p in [0, 1]; 0 if empty
  std::size_t size() const { return samples_.size(); }

 private:
  std::size_t capacity_;
  std::size_t next_ = 0;
  std::vector<Duration> samples_;
};

}  // namespace tmc::core
