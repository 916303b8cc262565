#include "pacing/pacer.h"

#include <algorithm>

namespace tmc {

Pacer::Pacer(const Pacing& channel_pacing, const TransportState* transport, TimePoint now)
    : channel_pacing_(channel_pacing), transport_(transport) {
  bucket_ = TokenBucket(effective_rate(), channel_pacing_.burst_bytes, now);
}

void Pacer::set_channel_pacing(const Pacing& pacing, TimePoint now) {
  channel_pacing_ = pacing;
  bucket_.configure(effective_rate(), pacing.burst_bytes, now);
}

double Pacer::effective_rate() const {
  double manifest_rate = channel_pacing_.rate_bytes_per_second;
  double cc_rate = transport_ ? transport_->pacing_rate_bytes_per_sec : 0;
  if (manifest_rate <= 0) return std::max(cc_rate, 0.0);
  if (cc_rate <= 0) return manifest_rate;
  return std::min(manifest_rate, cc_rate);
}

void Pacer::sync_rate(TimePoint now) {
  double rate = effective_rate();
  if (rate != bucket_.rate()) bucket_.configure(rate, channel_pacing_.burst_bytes, now);
}

Duration Pacer::time_until_send(std::uint64_t bytes, TimePoint now, TokenBucket* message_bucket) {
  sync_rate(now);
  Duration wait = bucket_.time_until_send(bytes, now);
  if (message_bucket) wait = std::max(wait, message_bucket->time_until_send(bytes, now));
  return wait;
}

void Pacer::on_sent(std::uint64_t bytes, TimePoint now, TokenBucket* message_bucket) {
  sync_rate(now);
  bucket_.on_sent(bytes, now);
  if (message_bucket) message_bucket->on_sent(bytes, now);
}

}  // namespace tmc
