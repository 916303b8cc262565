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
      delivered_order_(receivers_.size(), 0) {}

int SendStream::position_of(int member) const {
  for (std::size_t i = 0; i < receivers_.size(); ++i)
    if (receivers_[i] == member) return static_cast<int>(i);
  return -1;
}

void SendStream::note_transmission(SentPacket& packet, TimePoint now) {
  packet.last_sent = now;
  ++packet.transmissions;
  packet.send_order = next_send_order_++;
}

void SendStream::record(SentPacket packet) {
  packet.send_order = next_send_order_++;
  for (std::size_t position = 0; position < receivers_.size(); ++position)
    if (packet.pending & (1ull << position)) ++pending_count_[position];
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
                               std::uint64_t largest_new, Events& events) {
  const std::uint64_t bit = 1ull << position;
  if (!(packet.pending & bit)) return;
  packet.pending &= ~bit;
  --pending_count_[position];
  delivered_order_[position] = std::max(delivered_order_[position], packet.send_order);
  // Karn's algorithm (RFC 6298 section 3): sample only packets transmitted once; take the
  // sample from the largest newly acknowledged packet.
  Duration rtt;
  const bool sample = packet.transmissions == 1 && sequence + 1 == largest_new;
  if (sample) rtt = now - packet.first_sent;
  events.on_acked(packet, receivers_[position], sample ? &rtt : nullptr);
  if (packet.pending == 0) events.on_packet_done(packet, sample ? &rtt : nullptr);
}

void SendStream::on_ack(int position, const wire::AckFrame& ack, TimePoint now, Events& events) {
  if (position < 0 || static_cast<std::size_t>(position) >= receivers_.size()) return;
  const std::uint64_t cumulative = std::min(ack.cumulative, next_);
  std::uint64_t largest = cumulative;
  for (const auto& block : ack.sacks()) largest = std::max(largest, std::min(block.end, next_));
  const std::uint64_t largest_new = std::max(largest, largest_acked_[position]);
  largest_acked_[position] = largest_new;
  for (std::uint64_t s = std::max(cumulative_[position], base_); s < cumulative; ++s)
    clear_pending(s, window_[s - base_], position, now, largest_new, events);
  cumulative_[position] = std::max(cumulative_[position], cumulative);
  for (const auto& block : ack.sacks()) {
    const std::uint64_t end = std::min(block.end, next_);
    for (std::uint64_t s = std::max(block.start, base_); s < end; ++s)
      clear_pending(s, window_[s - base_], position, now, largest_new, events);
  }
  pop_done();
}

TimePoint SendStream::detect_losses(int position, TimePoint now, Duration time_threshold, Events& events) {
  const std::uint64_t bit = 1ull << position;
  if (pending_count_[position] == 0 || largest_acked_[position] < kPacketThreshold) return kNever;
  const std::uint64_t limit = std::min(largest_acked_[position] - kPacketThreshold, next_);
  for (std::uint64_t s = std::max(cumulative_[position], base_); s < limit; ++s) {
    SentPacket& packet = window_[s - base_];
    if (!(packet.pending & bit)) continue;
    // First detection retransmits at once; a retransmitted packet waits `time_threshold` before
    // the next copy.
    if (packet.transmissions == 1 || now - packet.last_sent >= time_threshold)
      events.on_retransmit(packet, receivers_[position]);
  }
  return kNever;
}

std::vector<int> SendStream::on_timer(TimePoint now, const std::function<Duration(int)>& rto, Events& events) {
  // Every packet whose timer expired is retransmitted (to each receiver missing it). Expiry is
  // judged for all receivers before anything is sent: a retransmission refreshes the packet's
  // send time, which must not hide the same packet's expiry for another receiver.
  std::vector<int> timed_out;
  std::vector<Duration> timeouts(receivers_.size());
  for (std::size_t position = 0; position < receivers_.size(); ++position)
    timeouts[position] = pending_count_[position] ? rto(static_cast<int>(position)) : Duration::max();
  for (auto& packet : window_) {
    if (!packet.pending) continue;
    const TimePoint last_sent = packet.last_sent;
    for (std::size_t position = 0; position < receivers_.size(); ++position) {
      if (!(packet.pending & (1ull << position))) continue;
      if (last_sent + timeouts[position] > now) continue;
      if (std::find(timed_out.begin(), timed_out.end(), int(position)) == timed_out.end())
        timed_out.push_back(static_cast<int>(position));
      events.on_retransmit(packet, receivers_[position]);
    }
  }
  return timed_out;
}

TimePoint SendStream::next_timeout(const std::function<Duration(int)>& rto) const {
  TimePoint next = kNever;
  std::vector<Duration> timeouts(receivers_.size());
  for (std::size_t position = 0; position < receivers_.size(); ++position)
    timeouts[position] = pending_count_[position] ? rto(static_cast<int>(position)) : Duration::zero();
  for (const auto& packet : window_) {
    if (!packet.pending) continue;
    for (std::size_t position = 0; position < receivers_.size(); ++position)
      if (packet.pending & (1ull << position)) next = std::min(next, packet.last_sent + timeouts[position]);
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
