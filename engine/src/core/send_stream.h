// Sender side of one outbound stream: a sequence space towards one member (point-to-point
// stream) or towards all members at once (group stream over IP multicast). Holds the
// retransmission window, processes acknowledgements per receiver, detects losses (RFC 9002
// section 6 packet and time thresholds) and timeouts, and computes the forward sequence below
// which the sender has abandoned everything.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "core/buffer_pool.h"
#include "core/clock.h"
#include "wire/packet.h"

namespace tmc::core {

struct SentPacket {
  std::vector<std::byte> bytes;  // encoded packet; empty for an unreliable one
  std::uint64_t message_id = 0;
  TimePoint first_sent{};
  TimePoint last_sent{};
  std::uint32_t transmissions = 1;
  std::uint64_t send_order = 0;  // stream-wide transmission counter: breaks send-time ties (RFC 8985 6.2)
  std::uint64_t pending = 0;  // receivers (stream positions) that must still acknowledge
};

class SendStream {
 public:
  // RFC 9002 6.1.1: a packet is lost once kPacketThreshold later packets are acknowledged.
  static constexpr std::uint64_t kPacketThreshold = 3;

  // What the stream reports while processing acknowledgements and timers.
  struct Events {
    virtual ~Events() = default;
    // `member` acknowledged `packet` (first time). `rtt` is set for a packet sent once.
    virtual void on_acked(const SentPacket& packet, int member, const Duration* rtt) = 0;
    // Retransmit `packet` to `member`.
    virtual void on_retransmit(SentPacket& packet, int member) = 0;
    // Every receiver has now acknowledged `packet`.
    virtual void on_packet_done(const SentPacket& packet, const Duration* rtt) {}
  };

  SendStream(std::uint16_t stream_id, std::vector<int> receivers, std::uint64_t first_sequence);

  std::uint16_t id() const { return id_; }
  const std::vector<int>& receivers() const { return receivers_; }  // member index per position
  int position_of(int member) const;

  std::uint64_t next_sequence() const { return next_; }
  std::uint64_t in_flight() const { return next_ - base_; }  // window occupancy, packets
  // Lowest sequence some receiver must still acknowledge; next_sequence() when none.
  std::uint64_t forward_sequence() const { return base_; }
  std::uint64_t pending_for(int position) const { return pending_count_[position]; }

  // Records the packet just sent with sequence next_sequence() and advances it. An unreliable
  // packet (pending == 0) only takes its sequence number.
  void record(SentPacket packet);

  // Processes an acknowledgement from the receiver at `position`.
  void on_ack(int position, const wire::AckFrame& ack, TimePoint now, Events& events);
  // Stamps a (re)transmission of `packet` at `now`.
  void note_transmission(SentPacket& packet, TimePoint now);

  // Loss detection for one receiver after an ack: a packet kPacketThreshold below the largest
  // acknowledged is lost (RFC 9002 6.1.1); the first time it is retransmitted at once, later
  // copies wait `time_threshold` (RFC 9002 6.1.2 shape: 9/8 RTT, at least min_rto) since the
  // last one. Returns kNever (reserved for time-based re-checks).
  TimePoint detect_losses(int position, TimePoint now, Duration time_threshold, Events& events);
  // Retransmits every packet whose timer expired, per receiver missing it. Returns the
  // positions that timed out (their RTO backs off, RFC 6298 5.5).
  std::vector<int> on_timer(TimePoint now, const std::function<Duration(int position)>& rto, Events& events);
  // Earliest retransmission deadline.
  TimePoint next_timeout(const std::function<Duration(int position)>& rto) const;

  // Gives up on everything pending for `position` (member down). Calls `abandoned` per packet.
  void abandon_receiver(int position, const std::function<void(const SentPacket&)>& abandoned);
  // Gives up on every packet of a message (deadline passed). Calls `abandoned` per packet.
  void abandon_message(std::uint64_t message_id, const std::function<void(const SentPacket&)>& abandoned);

  std::uint64_t largest_acked(int position) const { return largest_acked_[position]; }

  // An empty buffer for the next packet's bytes: recycled from packets that left the window.
  std::vector<std::byte> take_buffer() { return buffers_.take(); }
  const BufferPool& buffers() const { return buffers_; }
  // At most this many recycled buffers (and kRecycledBytes of them) per stream.
  static constexpr std::size_t kRecycledBuffers = 256;
  static constexpr std::size_t kRecycledBytes = 4u << 20;

 private:
  SentPacket* find(std::uint64_t sequence);
  void clear_pending(std::uint64_t sequence, SentPacket& packet, int position, TimePoint now,
                     std::uint64_t largest_new, Events& events);
  void pop_done();

  std::uint16_t id_;
  std::vector<int> receivers_;
  std::uint64_t base_;  // sequence of window_.front()
  std::uint64_t next_;
  std::deque<SentPacket> window_;
  std::vector<std::uint64_t> pending_count_;   // per position
  std::vector<std::uint64_t> cumulative_;      // per position: acked below
  std::vector<std::uint64_t> largest_acked_;   // per position: one past the largest acked
  std::vector<std::uint64_t> delivered_order_; // per position: latest send_order acknowledged
  std::uint64_t next_send_order_ = 1;
  BufferPool buffers_{kRecycledBuffers, kRecycledBytes};
};

}  // namespace tmc::core
