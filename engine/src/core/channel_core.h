// The sans-IO heart of a channel: the manifest's pipeline applied to sends, received datagrams
// and timer ticks, all with an explicit `now`. It performs no I/O and reads no clock; what it
// wants done goes to its Output. The Channel binds it to a UDP socket and a thread; tests bind
// it to a simulated network and a mock clock.
//
// Send:    targets -> streams (per-member sequence spaces, or the group stream over IP
//          multicast) -> fragmentation -> error checking -> reliability (window, quorum) ->
//          Output::transmit
// Receive: parse + verify -> per-(sender, stream) duplicate filter / ack state -> reassembly ->
//          ordering -> Output::deliver; acknowledgements at end_of_batch()
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/completion_state.h"
#include "core/inbound_stream.h"
#include "core/pipeline.h"
#include "core/quorum_tracker.h"
#include "core/rtt_estimator.h"
#include "core/send_stream.h"
#include "core/socket_address.h"
#include "ordering/total_order_member.h"
#include "flow_control/credit_sender.h"
#include "pacing/pacer.h"
#include "tmc/capabilities.h"
#include "tmc/congestion.h"
#include "tmc/channel.h"
#include "tmc/manifest.h"
#include "wire/packet.h"

namespace tmc::core {

class ChannelCore : private SendStream::Events {
 public:
  struct Output {
    virtual ~Output() = default;
    virtual void transmit(const SocketAddress& to, std::span<const std::byte> packet) = 0;
    // A DATA packet in two pieces, header ++ payload (what transmit(to, packet) would get, not
    // concatenated). With `borrowed_for_send` the payload is the application's bytes of the
    // ChannelCore::send call in progress: the Output may keep referring to them until that
    // call's caller returns to the application (it sends or copies them before then). Without
    // it the payload is valid during this call only. The default concatenates.
    virtual void transmit(const SocketAddress& to, std::span<const std::byte> header,
                          std::span<const std::byte> payload, bool borrowed_for_send);
    virtual void deliver(Message&& message) = 0;
    virtual void gap(const Gap&) {}
    virtual void control(std::uint8_t subtype, std::uint32_t argument, std::uint32_t sender_id,
                         const SocketAddress& source) {}
  };

  struct Config {
    Manifest manifest;           // channel defaults
    std::string self;            // member name of this endpoint, or ""
    std::uint32_t channel_id = 0;  // 0: derived from manifest.channel
    std::uint64_t random_seed = 0; // 0: from std::random_device
    std::optional<Capabilities> capabilities;  // the operator's capabilities file, if any
    TimePoint now{};               // creation time (starts the total-order sequencer's clock)
    // This endpoint is the group's dedicated sequencer (tmc::SequencerService): `self` is its
    // "host:port" as the capabilities file's `sequencer` names it. It receives the group
    // stream's total-order DATA (acknowledging it when reliable), stamps, answers REQUESTs and
    // takes part in view changes; it sends no messages and delivers none.
    bool dedicated_sequencer = false;
  };

  // Throws std::invalid_argument for a manifest the engine cannot realise.
  ChannelCore(const Config& config, Output& output);

  Completion send(std::span<const std::byte> payload, const Manifest& per_message, TimePoint now);
  void on_datagram(std::span<const std::byte> datagram, const SocketAddress& source, TimePoint now);
  // End of a receive batch: sends the acknowledgements that are due (all of them when
  // reliability.max_ack_delay is 0); the others wait for a packet to the peer (send()) or for
  // their deadline (next_timer()).
  void end_of_batch(TimePoint now);
  void on_timer(TimePoint now);
  TimePoint next_timer() const { return std::min(timer_deadline_, ack_deadline_); }

  void update(const Manifest& manifest);
  void add_member(const Member& member);
  void send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& member_or_address);
  void close();

  Stats stats() const;
  std::string plan() const;
  // The transport plan (capabilities file) chose eBPF fan-out: the Channel attaches the kernel
  // program for the group stream's receivers, in this order (members[0] first), and reports
  // back. Until set_kernel_fanout(true) the group stream fans out in user space.
  bool wants_kernel_fanout() const { return kernel_fanout_wanted_ && group_stream_ >= 0; }
  std::vector<SocketAddress> group_member_addresses() const;  // empty while one is unknown
  void set_kernel_fanout(bool active, const std::string& note);

  // flow_control (docs/transport.md "Flow control"). Sender memory: a message of `bytes` may be
  // admitted now (buffered + bytes <= send buffer, or nothing buffered); the Channel waits
  // (blocking) or refuses (asynchronous) otherwise.
  bool flow_controlled() const { return flow_control_.has_value(); }
  bool can_admit(std::size_t bytes) const;
  std::uint64_t send_buffer_bytes() const { return buffered_bytes_; }
  // The application read (or dropped) a delivered message: its credit is released.
  void on_consumed(std::uint32_t sender_id, std::uint64_t sequence, TimePoint now);
  // Application hint: bytes it still holds after recv(); future grants shrink by it.
  void set_application_queue_bytes(std::uint64_t bytes, TimePoint now);
  const Manifest& manifest() const { return defaults_; }
  std::uint32_t channel_id() const { return channel_id_; }
  std::uint32_t sender_id() const { return sender_id_; }
  std::uint32_t epoch() const { return epoch_; }
  std::size_t pending_sends() const { return quorum_.size(); }
  std::size_t backlog_messages() const;

 private:
  struct MemberState {
    std::string name;
    std::optional<SocketAddress> address;
    std::uint32_t sender_id = 0;  // crc32c of the name; or learned from its packets
    RttEstimator rtt;
    bool down = false;
    TimePoint last_progress{};
    int unicast_stream = -1;  // index into streams_
    // The capabilities file's sequencer when it is no member (docs/transport.md "Dedicated
    // sequencer"): a receiver of the group stream (it must see every total-order message, and
    // is retransmitted to while it sequences the current view) that is never a target, never
    // counts for a send's completion and grants no credit.
    bool dedicated_sequencer = false;
  };
  struct Outgoing {
    std::uint64_t message_id;
    // The message's bytes: the application's own (`owner` and `staged` empty) while the send()
    // that queued it runs. A message still in the backlog as send() returns (window, credit or
    // pacing held it back) gets its own copy: a one-packet message in `staged`, a buffer of
    // the stream's pool laid out as its packet, [TMC_DATA_HEADER_SIZE bytes of room][payload],
    // which pump() completes with the header and keeps as the packet's bytes (one copy, no
    // allocation once the pool is warm); a fragmented one in *owner, once for every stream.
    std::span<const std::byte> payload;
    std::shared_ptr<const std::vector<std::byte>> owner;
    std::vector<std::byte> staged;
    std::uint16_t flags;
    std::uint64_t reliable_mask;  // stream positions
    std::uint32_t fragment_count;
    std::uint32_t next_fragment = 0;
    std::uint64_t first_sequence = 0;
  };
  struct Stream {
    SendStream window;
    std::optional<SocketAddress> destination;  // group address; unset for member streams
    // Group stream without IP multicast: the engine sends each packet to every receiver itself
    // (user-space fan-out). False with an eBPF fan-out: one send to the first receiver.
    bool user_space_fanout = false;
    std::deque<Outgoing> backlog;
    // Congestion control and pacing of this path (ngtcp2 shape: the controller writes cwnd and
    // pacing rate into `transport`, the pacer reads it; neither reaches back into the core).
    std::unique_ptr<TransportState> transport = std::make_unique<TransportState>();
    std::unique_ptr<CongestionController> congestion;
    std::unique_ptr<Pacer> pacer;
    std::unique_ptr<CreditSender> credit;  // flow_control: receivers' grants gate new packets
  };

  // SendStream::Events
  void on_acked(const SentPacket& packet, int member, const Duration* rtt) override;
  void on_retransmit(SentPacket& packet, int member) override;
  void on_probe(SentPacket& packet, int member) override;
  void on_persistent_congestion(int member) override;
  void send_again(SentPacket& packet, int member, bool lost);
  SendStream::Timing loss_timing(const MemberState& member) const;
  void on_packet_done(const SentPacket& packet, const Duration* rtt) override;

  void configure_path_control(Stream& stream);
  Duration loss_delay(const MemberState& member) const;
  Stream make_stream(std::uint16_t id, std::vector<int> receivers, std::optional<SocketAddress> destination);

  void apply_manifest(const Manifest& manifest);
  void ensure_group_stream(std::optional<SocketAddress> destination, bool user_space_fanout);
  void configure_total_order(const Manifest& manifest);
  void add_dedicated_sequencer(const std::vector<std::string>& candidates);
  // Reliable total-order packets count the dedicated sequencer's acknowledgement only while it
  // sequences the current view (and is not down); once deposed, what it still owes is dropped.
  bool dedicated_sequencer_reliable() const;
  void release_dedicated_sequencer();
  void handle_sequence(std::span<const std::byte> datagram, const wire::ParsedPacket& packet,
                       const SocketAddress& source, TimePoint now);
  void drain_total_order(TimePoint now);
  // A view's stamps come from one incarnation (epoch) of its sequencer: false for a STAMPS,
  // HEARTBEAT or NEW_VIEW packet of a sequencer that restarted within its view (it lost its log
  // and would stamp from the view's start again).
  bool sequencer_incarnation_matches(const std::string& from, std::uint32_t epoch, const SequenceMessage& message);
  wire::CommonHeader own_header(wire::PacketType type, std::uint16_t flags, std::uint16_t stream) const;
  void transmit_sequence(const std::string& destination, const SequenceMessage& message);
  void handle_credit(std::span<const std::byte> datagram, const wire::ParsedPacket& packet,
                     const SocketAddress& source, TimePoint now);
  void transmit_credit(const SocketAddress& to, std::uint16_t stream, const CreditMessage& message);
  void grant_credit(InboundStream& stream, std::uint16_t stream_id, TimePoint now);
  void release_held(std::uint64_t message_id, bool resolved, bool backlog_done);
  int add_member_state(const Member& member);
  std::vector<int> resolve_targets(const CompiledPipeline& pipeline, const Manifest& manifest);
  void pump(Stream& stream, TimePoint now);
  void handle_data(const wire::ParsedPacket& packet, const SocketAddress& source, TimePoint now);
  void handle_ack(const wire::ParsedPacket& packet, const SocketAddress& source, TimePoint now);
  void deliver_all(std::uint32_t sender_id, std::uint32_t epoch, const SocketAddress& source, std::vector<CompleteMessage>& messages);
  void send_ack(InboundStream& stream, std::uint32_t sender_id, std::uint16_t stream_id, TimePoint now);
  // Sends the delayed acknowledgements due at `now` (every pending one when `all`); keeps the
  // others in acks_due_ and sets ack_deadline_ to the earliest of their deadlines.
  void send_pending_acks(TimePoint now, bool all);
  // After an acknowledgement: with nothing in flight, queued or awaiting a quorum (and no
  // total order polling), no retransmission timer can fire usefully, so the armed one is
  // dropped instead of waking the runtime thread for nothing.
  void disarm_if_idle();
  int member_by_sender(std::uint32_t sender_id, const SocketAddress& source);
  void declare_down(int member, TimePoint now);
  void arm_timer(TimePoint when) { timer_deadline_ = std::min(timer_deadline_, when); }
  std::unique_ptr<ReceiveOrdering> make_ordering(std::uint32_t sender_id, std::uint16_t stream);
  // Messages an inbound stream's ordering released: credit bookkeeping, then delivery.
  void deliver_released(InboundStream& stream, std::pair<std::uint32_t, std::uint16_t> key, const SocketAddress& source,
                        std::vector<CompleteMessage>& ready, TimePoint now);
  void poll_ordering_timers(TimePoint now);
  std::uint64_t random_sequence_start();
  const CompiledPipeline& compiled(const Manifest& effective);

  Output& output_;
  std::mt19937_64 random_;
  std::uint32_t channel_id_;
  std::uint32_t sender_id_;
  std::uint32_t epoch_;
  std::string self_;
  Manifest defaults_;
  std::vector<MemberState> members_;
  int dedicated_ = -1;              // members_ index of the dedicated sequencer, if any
  bool sequencer_role_ = false;     // Config::dedicated_sequencer: this endpoint is it
  bool release_dedicated_ = false;  // the view moved away from the dedicated sequencer: on_timer drops its pending packets
  std::vector<Stream> streams_;  // member streams, then the group stream
  int group_stream_ = -1;
  std::optional<SocketAddress> group_address_;
  std::map<std::pair<std::uint32_t, std::uint16_t>, InboundStream> inbound_;
  std::vector<std::pair<std::uint32_t, std::uint16_t>> acks_due_;
  QuorumTracker quorum_;
  std::uint64_t next_message_id_ = 1;
  std::size_t target_rotation_ = 0;
  TimePoint timer_deadline_ = kNever;
  TimePoint ack_deadline_ = kNever;  // earliest delayed acknowledgement (acks_due_)
  TimePoint now_{};  // time of the event being processed
  Stream* active_stream_ = nullptr;  // stream whose window calls the Events methods
  bool closed_ = false;
  // ordering: {module, ...}: makes each new inbound stream's ordering (unset: DeliveryOrder).
  // An inbound stream keeps the ordering it was created with across update().
  std::function<std::unique_ptr<ReceiveOrdering>(std::uint32_t sender_id, std::uint16_t stream)> ordering_factory_;
  bool timed_orderings_ = false;  // an inbound stream has a module ordering (it may wait on time)
  // ordering: total (set when the channel defaults ask for it and self is a member)
  std::unique_ptr<TotalOrderMember> total_;
  std::optional<Capabilities> capabilities_;
  TimePoint last_total_poll_{};
  std::map<std::uint32_t, std::uint32_t> view_epochs_;  // view -> epoch of its sequencer's first SEQUENCE packet
  std::optional<TransportPlan> plan_;  // set when a capabilities file is given
  bool nic_checksum_ = false;
  bool kernel_fanout_wanted_ = false;
  bool kernel_fanout_active_ = false;
  // flow_control
  std::optional<FlowControl> flow_control_;
  CreditConfig credit_config_;
  struct HeldMessage {
    std::uint64_t bytes = 0;
    int backlogs = 0;       // streams whose backlog still holds it
    bool resolved = false;  // its completion resolved (acked, expired, failed; unreliable: at once)
  };
  std::unordered_map<std::uint64_t, HeldMessage> held_;
  std::uint64_t buffered_bytes_ = 0;
  std::uint64_t application_queue_bytes_ = 0;
  std::string kernel_fanout_note_ = "the channel attaches it when it opens (BPF permitted, neighbour entries resolved)";
  std::uint16_t sequence_flags_ = 0;  // TMC_FLAG_CHECKSUM on SEQUENCE packets when crc32c is on
  std::vector<std::pair<Manifest, CompiledPipeline>> pipeline_cache_;
  // The pipeline of defaults_ (sends without per-message fields), so such a send skips the
  // cache's manifest comparisons; reset whenever defaults_ or the cache change.
  std::optional<CompiledPipeline> defaults_pipeline_;
  RttSamples rtt_samples_;
  Stats stats_;
};

}  // namespace tmc::core
