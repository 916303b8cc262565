// Pacer: the per-channel token bucket whose rate is the lower of the manifest's pacing rate and
// the congestion controller's pacing rate (TransportState), and whose burst is the manifest's.
// Per-message pacing: a message with its own `pacing` gets its own TokenBucket (MessagePacer);
// its packets wait for both buckets.
//
// Integration (sans-IO, core's send loop):
//   Duration wait = pacer.time_until_send(bytes, now, message_bucket_or_null);
//   if (wait > 0) arm a timer for now + wait; else { send; pacer.on_sent(bytes, now, message_bucket_or_null); }
#pragma once

#include "pacing/token_bucket.h"

namespace tmc {

class Pacer {
 public:
  // `transport` may be null (no congestion control); it must outlive the pacer.
  Pacer(const Pacing& channel_pacing, const TransportState* transport, TimePoint now);

  void set_channel_pacing(const Pacing& pacing, TimePoint now);  // Channel::update()
  // The rate in force: min of the positive ones of {manifest rate, CC pacing rate}; 0 = unpaced.
  double effective_rate() const;

  Duration time_until_send(std::uint64_t bytes, TimePoint now, TokenBucket* message_bucket = nullptr);
  void on_sent(std::uint64_t bytes, TimePoint now, TokenBucket* message_bucket = nullptr);

  // A bucket for one message's own `pacing` (nullopt-equivalent: rate 0 = unpaced).
  static TokenBucket message_bucket(const Pacing& message_pacing, TimePoint now) {
    return TokenBucket(message_pacing.rate_bytes_per_second, message_pacing.burst_bytes, now);
  }

 private:
  void sync_rate(TimePoint now);
  Pacing channel_pacing_;
  const TransportState* transport_;
  TokenBucket bucket_;
};

}  // namespace tmc
