// Sender side of one outbound stream: a sequence space towards one member (point-to-point
// stream) or towards all members at once (group stream over IP multicast). Holds the
// retransmission window, processes acknowledgements per receiver and recovers losses the way
// RFC 9002 does: a packet is declared lost only on acknowledgement evidence (section 6.1:
// packet threshold or time threshold relative to a later-sent packet that was acknowledged);
// a probe timeout (section 6.2) sends at most kMaxProbes probes and declares nothing lost, so
// the probes' acknowledgements drive the detection of the rest. Sequence numbers are reused by
// retransmissions, so a stream-wide transmission counter (send_order) plays the role of QUIC's
// packet number. Also computes the forward sequence below which the sender has abandoned
// everything.
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
  std::uint64_t send_order = 0;        // stream-wide transmission counter of the latest copy
  std::uint64_t first_send_order = 0;  // ... of the first copy (increases with the sequence)
  std::uint64_t pending = 0;  // receivers (stream positions) that must still acknowledge
};

class SendStream {
 public:
  // RFC 9002 6.1.1: a packet is lost once a packet sent kPacketThreshold transmissions later
  // is acknowledged.
  static constexpr std::uint64_t kPacketThreshold = 3;
  // RFC 9002 6.2.4: a probe timeout sends at most two probes.
  static constexpr int kMaxProbes = 2;
  // RFC 9002 7.6.1: persistent congestion spans kPersistentCongestionThreshold PTO periods.
  static constexpr int kPersistentCongestionThreshold = 3;

  // What the stream reports while processing acknowledgements and timers.
  struct Events {
    virtual ~Events() = default;
    // `member` acknowledged `packet` (first time). `rtt` is set for a packet sent once; it is
    // the acknowledgement's delay-adjusted sample (RFC 9002 5.3).
    virtual void on_acked(const SentPacket& packet, int member, const Duration* rtt) = 0;
    // `packet` was declared lost for `member`: retransmit it. The stream stamps the
    // transmission (send time, counter) after this returns.
    virtual void on_retransmit(SentPacket& packet, int member) = 0;
    // A probe timeout chose `packet` as a probe for `member`: send it again without declaring
    // it lost (RFC 9002 6.2.4). Stamped like a retransmission.
    virtual void on_probe(SentPacket& packet, int member) { on_retransmit(packet, member); }
    // Every receiver has now acknowledged `packet`.
    virtual void on_packet_done(const SentPacket& packet, const Duration* rtt) {}
    // The packets just declared lost for `member` span more than the persistent congestion
    // duration with none acknowledged in between (RFC 9002 7.6.2).
    virtual void on_persistent_congestion(int member) {}
  };

  // Per-receiver timing the stream needs from the channel's RTT estimators.
  struct Timing {
    Duration time_threshold;  // RFC 9002 6.1.2: 9/8 max(smoothed, latest RTT), floored
    Duration pto;             // RFC 9002 6.2.1 probe timeout, backoff included
    Duration persistent_congestion = Duration::max();  // RFC 9002 7.6.1 duration
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

  // Processes an acknowledgement from the receiver at `position`: clears what it acknowledges
  // and takes an RTT sample net of the receiver's reported ack delay (RFC 9002 5.3).
  void on_ack(int position, const wire::AckFrame& ack, TimePoint now, Events& events);
  // Stamps a (re)transmission of `packet` to the receiver at `position` at `now`.
  void note_transmission(SentPacket& packet, int position, TimePoint now);

  // RFC 9002 6.1 loss detection for one receiver, after an ack or when its loss time is due:
  // every pending packet sent before the latest acknowledged one is lost when a packet sent
  // kPacketThreshold transmissions after it was acknowledged or `time_threshold` has passed
  // since it was sent; lost packets are retransmitted (on_retransmit) and then judged again
  // relative to that retransmission. Returns the loss time: when the earliest packet sent
  // before the latest acknowledged one, not yet lost, crosses the time threshold (kNever if
  // none); the stream also keeps it for next_timeout/on_timer.
  TimePoint detect_losses(int position, TimePoint now, Duration time_threshold, Events& events,
                          Duration persistent_congestion = Duration::max());
  // Timers at `now`: a receiver whose loss time is due is re-judged (detect_losses); one whose
  // probe timeout (last ack-eliciting transmission to it + timing.pto) passed gets at most
  // kMaxProbes probes, the oldest packets it still misses. Returns the positions whose probe
  // timeout fired (the caller backs their PTO off, RFC 9002 6.2.1).
  std::vector<int> on_timer(TimePoint now, const std::function<Timing(int position)>& timing, Events& events);
  // Earliest loss time or probe timeout over the receivers (kNever when nothing is pending).
  TimePoint next_timeout(const std::function<Timing(int position)>& timing) const;
  // Loss time of one receiver (kNever when no packet awaits the time threshold).
  TimePoint loss_time(int position) const { return loss_time_[position]; }
  // Smallest RTT sample seen from one receiver (RFC 9002 5.2); Duration::max() before one.
  Duration min_rtt(int position) const { return min_rtt_[position]; }

  // Gives up on everything pending for `position` (member down). Calls `abandoned` per packet.
  void abandon_receiver(int position, const std::function<void(const SentPacket&)>& abandoned);
  // Gives up on every packet of a message (deadline passed). Calls `abandoned` per packet.
  void abandon_message(std::uint64_t message_id, const std::function<void(const SentPacket&)>& abandoned);

  std::uint64_t largest_acked(int position) const { return largest_acked_[position]; }

  // An empty buffer for the next packet's bytes: recycled from packets that left the window.
  std::vector<std::byte> take_buffer() { return buffers_.take(); }
  void give_buffer(std::vector<std::byte>&& buffer) { buffers_.give(std::move(buffer)); }
  const BufferPool& buffers() const { return buffers_; }
  // At most this many recycled buffers (and kRecycledBytes of them) per stream. The count
  // covers a backlog of staged one-packet messages (ChannelCore::Outgoing::staged) as large as
  // an application's usual outstanding sends: a burst of thousands is taken from the pool and
  // comes back to it as they are acknowledged, instead of going through malloc on the sending
  // thread and free on the runtime thread.
  static constexpr std::size_t kRecycledBuffers = 4096;
  static constexpr std::size_t kRecycledBytes = 4u << 20;

 private:
  SentPacket* find(std::uint64_t sequence);
  void clear_pending(std::uint64_t sequence, SentPacket& packet, int position, TimePoint now,
                     std::uint64_t largest_new, Duration ack_delay, Events& events);
  void send_probes(int position, TimePoint now, Events& events);
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
  std::vector<TimePoint> last_sent_;           // per position: latest ack-eliciting transmission
  std::vector<TimePoint> loss_time_;           // per position: RFC 9002 6.1.2 loss timer
  std::vector<Duration> min_rtt_;              // per position: RFC 9002 5.2 min_rtt
  std::uint64_t next_send_order_ = 1;
  BufferPool buffers_{kRecycledBuffers, kRecycledBytes};
};

}  // namespace tmc::core
