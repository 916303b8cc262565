#include "core/send_stream.h"

#include <algorithm>

namespace tmc::core {

SendStream::SendStream(std::uint16_t stream_id, std::vector<int> receivers, std::uint64_t first_sequence)
    : id_(stream_id),
      receivers_(std::move(receivers)),
      base_(first_sequence),
      next_(first_sequence),
      pending_count_(receivers_.size(), 0),
      cumulative_(receivers_.size(), first_sequence),
      largest_acked_(receivers_.size(), first_sequence),
      delivered_order_(receivers_.size(), 0),
      last_sent_(receivers_.size(), TimePoint{}),
      loss_time_(receivers_.size(), kNever),
      min_rtt_(receivers_.size(), Duration::max()) {}

int SendStream::position_of(int member) const {
  for (std::size_t i = 0; i < receivers_.size(); ++i)
    if (receivers_[i] == member) return static_cast<int>(i);
  return -1;
}

void SendStream::note_transmission(SentPacket& packet, int position, TimePoint now) {
  packet.last_sent = now;
  ++packet.transmissions;
  packet.send_order = next_send_order_++;
  if (position >= 0 && static_cast<std::size_t>(position) < last_sent_.size()) last_sent_[position] = now;
}

void SendStream::record(SentPacket packet) {
  packet.send_order = packet.first_send_order = next_send_order_++;
  for (std::size_t position = 0; position < receivers_.size(); ++position)
    if (packet.pending & (1ull << position)) {
      ++pending_count_[position];
      last_sent_[position] = packet.last_sent;
    }
  if (window_.empty() && packet.pending == 0) {
    base_ = ++next_;  // nothing outstanding: the forward point moves on
    return;
  }
  if (packet.pending == 0) packet.bytes = {};  // a placeholder keeps the window contiguous
  window_.push_back(std::move(packet));
  ++next_;
}

SentPacket* SendStream::find(std::uint64_t sequence) {
  if (sequence < base_ || sequence >= next_) return nullptr;
  return &window_[sequence - base_];
}

void SendStream::clear_pending(std::uint64_t sequence, SentPacket& packet, int position, TimePoint now,
                               std::uint64_t largest_new, Duration ack_delay, Events& events) {
  const std::uint64_t bit = 1ull << position;
  if (!(packet.pending & bit)) return;
  packet.pending &= ~bit;
  --pending_count_[position];
  // Which copy was acknowledged is ambiguous for a retransmitted packet. Credit the latest copy
  // only when at least min_rtt passed since it was sent (RFC 8985 6.2 step 2's test: sooner, it
  // must have been an earlier copy); else the first one. detect_losses judges only holes, so a
  // wrong credit cannot condemn packets above the largest acknowledged sequence.
  std::uint64_t order = packet.send_order;
  if (packet.transmissions > 1 && (min_rtt_[position] == Duration::max() || now - packet.last_sent < min_rtt_[position]))
    order = packet.first_send_order;
  delivered_order_[position] = std::max(delivered_order_[position], order);
  // Karn's algorithm (RFC 6298 section 3): sample only packets transmitted once; take the
  // sample from the largest newly acknowledged packet.
  Duration rtt;
  const bool sample = packet.transmissions == 1 && sequence + 1 == largest_new;
  if (sample) {
    rtt = now - packet.first_sent;
    // RFC 9002 5.2: min_rtt from unadjusted samples; 5.3: the smoothed RTT excludes the time
    // the receiver held the acknowledgement, unless that would go below min_rtt.
    min_rtt_[position] = std::min(min_rtt_[position], rtt);
    if (rtt >= min_rtt_[position] + ack_delay) rtt -= ack_delay;
  }
  events.on_acked(packet, receivers_[position], sample ? &rtt : nullptr);
  if (packet.pending == 0) events.on_packet_done(packet, sample ? &rtt : nullptr);
}

void SendStream::on_ack(int position, const wire::AckFrame& ack, TimePoint now, Events& events) {
  if (position < 0 || static_cast<std::size_t>(position) >= receivers_.size()) return;
  const Duration ack_delay = std::chrono::microseconds(ack.ack_delay_us);
  const std::uint64_t cumulative = std::min(ack.cumulative, next_);
  std::uint64_t largest = cumulative;
  for (const auto& block : ack.sacks()) largest = std::max(largest, std::min(block.end, next_));
  const std::uint64_t largest_new = std::max(largest, largest_acked_[position]);
  largest_acked_[position] = largest_new;
  for (std::uint64_t s = std::max(cumulative_[position], base_); s < cumulative; ++s)
    clear_pending(s, window_[s - base_], position, now, largest_new, ack_delay, events);
  cumulative_[position] = std::max(cumulative_[position], cumulative);
  for (const auto& block : ack.sacks()) {
    const std::uint64_t end = std::min(block.end, next_);
    for (std::uint64_t s = std::max(block.start, base_); s < end; ++s)
      clear_pending(s, window_[s - base_], position, now, largest_new, ack_delay, events);
  }
  pop_done();
}

TimePoint SendStream::detect_losses(int position, TimePoint now, Duration time_threshold, Events& events,
                                    Duration persistent_congestion) {
  loss_time_[position] = kNever;
  const std::uint64_t bit = 1ull << position;
  const std::uint64_t largest = delivered_order_[position];  // latest acknowledged transmission
  if (pending_count_[position] == 0 || largest == 0) return kNever;
  // A run of first transmissions declared lost here with nothing between them acknowledged or
  // spared (RFC 9002 7.6.2); its span decides persistent congestion.
  bool in_run = false;
  TimePoint run_start{};
  bool persistent = false;
  const bool have_rtt = min_rtt_[position] != Duration::max();  // 7.6.2: an RTT sample first
  // Only holes are judged: packets below the largest acknowledged sequence. Above it nothing
  // was overtaken by its own later copies, and a probe whose acknowledgement was credited to
  // the probe although the original arrived (a stalled receiver) cannot condemn the packets
  // still queued behind it.
  const std::uint64_t end = std::min(largest_acked_[position], next_);
  for (std::uint64_t s = std::max(cumulative_[position], base_); s < end; ++s) {
    SentPacket& packet = window_[s - base_];
    if (!(packet.pending & bit) || packet.send_order >= largest) {
      in_run = false;  // acknowledged (or sent after the evidence): not lost
      continue;
    }
    const bool lost = largest - packet.send_order >= kPacketThreshold || now - packet.last_sent >= time_threshold;
    if (!lost) {
      loss_time_[position] = std::min(loss_time_[position], packet.last_sent + time_threshold);
      in_run = false;
      continue;
    }
    if (packet.transmissions == 1 && have_rtt) {
      if (!in_run) run_start = packet.first_sent;
      in_run = true;
      if (packet.first_sent - run_start >= persistent_congestion) persistent = true;
    } else {
      in_run = false;
    }
    events.on_retransmit(packet, receivers_[position]);
    note_transmission(packet, position, now);
  }
  if (persistent) events.on_persistent_congestion(receivers_[position]);
  return loss_time_[position];
}

void SendStream::send_probes(int position, TimePoint now, Events& events) {
  const std::uint64_t bit = 1ull << position;
  int probes = 0;
  for (std::uint64_t s = std::max(cumulative_[position], base_); s < next_ && probes < kMaxProbes; ++s) {
    SentPacket& packet = window_[s - base_];
    if (!(packet.pending & bit)) continue;
    events.on_probe(packet, receivers_[position]);
    note_transmission(packet, position, now);
    ++probes;
  }
}

std::vector<int> SendStream::on_timer(TimePoint now, const std::function<Timing(int)>& timing, Events& events) {
  std::vector<int> fired;
  for (std::size_t p = 0; p < receivers_.size(); ++p) {
    const int position = static_cast<int>(p);
    if (pending_count_[p] == 0) {
      loss_time_[p] = kNever;
      continue;
    }
    const Timing t = timing(position);
    // RFC 9002 6.2.1: while a loss time is set it takes the place of the probe timeout.
    if (loss_time_[p] != kNever) {
      if (loss_time_[p] <= now) detect_losses(position, now, t.time_threshold, events, t.persistent_congestion);
      continue;
    }
    if (last_sent_[p] + t.pto > now) continue;
    fired.push_back(position);
    send_probes(position, now, events);
  }
  return fired;
}

TimePoint SendStream::next_timeout(const std::function<Timing(int)>& timing) const {
  TimePoint next = kNever;
  for (std::size_t p = 0; p < receivers_.size(); ++p) {
    if (pending_count_[p] == 0) continue;
    if (loss_time_[p] != kNever) next = std::min(next, loss_time_[p]);
    else next = std::min(next, last_sent_[p] + timing(static_cast<int>(p)).pto);
  }
  return next;
}

void SendStream::abandon_receiver(int position, const std::function<void(const SentPacket&)>& abandoned) {
  const std::uint64_t bit = 1ull << position;
  for (auto& packet : window_) {
    if (!(packet.pending & bit)) continue;
    packet.pending &= ~bit;
    abandoned(packet);
  }
  pending_count_[position] = 0;
  loss_time_[position] = kNever;
  pop_done();
}

void SendStream::abandon_message(std::uint64_t message_id, const std::function<void(const SentPacket&)>& abandoned) {
  for (auto& packet : window_) {
    if (packet.message_id != message_id || !packet.pending) continue;
    for (std::size_t position = 0; position < receivers_.size(); ++position)
      if (packet.pending & (1ull << position)) --pending_count_[position];
    packet.pending = 0;
    abandoned(packet);
  }
  pop_done();
}

void SendStream::pop_done() {
  while (!window_.empty() && window_.front().pending == 0) {
    buffers_.give(std::move(window_.front().bytes));
    window_.pop_front();
    ++base_;
  }
  if (window_.empty()) base_ = next_;
}

}  // namespace tmc::core
