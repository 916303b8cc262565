// tmc::Channel — a TMC channel realised from a manifest.
//
//   tmc::Channel channel(manifest, {.self = "a"});
//   auto done = channel.send(bytes, {.reliability = tmc::Reliability{.kind = ...}});
//   done.wait();
//   channel.update({.error_checking = tmc::ErrorChecking::crc32c});
//   auto message = channel.recv(std::chrono::milliseconds(100));
//
// Thread safety: every member function may be called from any thread. Handlers run on the
// channel's runtime thread and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include "tmc/capabilities.h"
#include "tmc/manifest.h"

namespace tmc {

class Runtime;
class FaultInjector;
struct FaultConfig;

// Outcome of a send once its reliability target is decided.
enum class SendStatus {
  pending,    // not decided yet
  delivered,  // reliability target met (or sent, for unreliable messages)
  expired,    // the per-message deadline passed first
  failed,     // the target cannot be met any more (too many members down)
  closed,     // the channel closed first
  refused,    // flow_control with synchronicity: asynchronous: sender memory is full, not sent
};
const char* to_string(SendStatus);

// Resolves when the message's reliability target is met. Cheap to copy (shared state).
class Completion {
 public:
  struct State;
  Completion();
  explicit Completion(std::shared_ptr<State> state);
  SendStatus status() const;
  bool done() const { return status() != SendStatus::pending; }
  SendStatus wait() const;
  SendStatus wait_for(Duration timeout) const;  // pending on timeout
  // Runs `handler` once decided (immediately, on this thread, if already decided).
  void on_complete(std::function<void(SendStatus)> handler) const;

 private:
  std::shared_ptr<State> state_;
};

struct Message {
  std::vector<std::byte> payload;
  std::string sender;         // member name, or "" for a sender not in the member list
  std::uint32_t sender_id = 0;
  sockaddr_storage source{};  // UDP address the message came from
  std::uint64_t sequence = 0; // sequence of its first fragment in the sender's stream
  // ordering: total only: the message's place in the group order (every member delivers the
  // same message at the same place, its own messages included); unset otherwise.
  std::optional<std::uint64_t> group_sequence;
};

// Gap notification (ordering: total without reliability; fifo streams that skipped messages).
// sender_id 0 (no sender has it): a total-order gap, reported once per member: the group
// sequences [first, first + count) will never be delivered here (NOPaxos OUM drop notification).
struct Gap {
  std::uint32_t sender_id = 0;
  std::uint64_t first = 0;  // first missing sequence
  std::uint64_t count = 0;
};

struct Stats {
  std::uint64_t messages_sent = 0, bytes_sent = 0;
  std::uint64_t messages_delivered = 0, bytes_delivered = 0;
  std::uint64_t packets_sent = 0, packets_received = 0;
  std::uint64_t retransmissions = 0;
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t stale_dropped = 0;
  std::uint64_t malformed_dropped = 0;   // failed to parse
  std::uint64_t checksum_failures = 0;   // CRC32C mismatch
  std::uint64_t abandoned = 0;           // given up (member down, deadline, unreliable gap)
  std::uint64_t acks_sent = 0, acks_received = 0;
  double loss_ratio = 0;                  // retransmissions / data packets sent
  // ordering: total: the current sequencer and view, and how often it changed (each change is
  // also logged as a warning: the old sequencer was suspected after no stamp or heartbeat).
  std::string sequencer;
  std::uint32_t sequencer_view = 0;
  std::uint64_t sequencer_changes = 0;
  std::uint64_t messages_stamped = 0;  // messages this endpoint stamped while it was the sequencer
  std::uint64_t stamp_requests_answered = 0;  // REQUESTs for missing stamps it answered (sequencer or peer)
  std::uint64_t stale_sequencer_packets = 0;  // SEQUENCE packets of a restarted sequencer (new epoch in its view), refused
  std::uint64_t total_order_gaps = 0, total_order_gap_messages = 0;
  // flow_control: payload bytes held in sender memory (admitted, not yet acked or sent), its
  // peak, how often credit stopped a stream, and packets dropped for arriving beyond credit.
  std::uint64_t send_buffer_bytes = 0, send_buffer_peak_bytes = 0;
  std::uint64_t credit_stalls = 0, credit_violations = 0;
  std::uint64_t simplex_dropped = 0;  // duplexity send-only: DATA that arrived anyway, dropped
  std::uint64_t timeouts = 0;             // probe timeouts fired (per member, RFC 9002 6.2)
  std::uint64_t probes = 0;               // packets sent as PTO probes (also counted in retransmissions)
  // Congestion control, summed over the send streams: current windows and reductions.
  std::uint64_t congestion_window_bytes = 0, congestion_events = 0;
  Duration smoothed_rtt{0}, rtt_p50{0}, rtt_p99{0}, rtt_p999{0};
  // UDP segmentation offloads of the channel's sockets (docs/wire-format.md "Transport"):
  // GSO super-packets sent and the packets they carried; coalesced (GRO) datagrams received
  // and the packets split from them. All zero when the kernel lacks them or TMC_UDP_GSO=0.
  std::uint64_t gso_sends = 0, gso_segments = 0;
  std::uint64_t gro_receives = 0, gro_segments = 0;
  // Packets of streaming large sends appended to the socket's kernel cork (MSG_MORE), which
  // consecutive sends share as one GSO super-packet (docs/wire-format.md).
  std::uint64_t corked_packets = 0;
};

struct ChannelOptions {
  // This endpoint's member name (must be in manifest.multicast.members when set). Its address
  // is the local address unless local_address overrides it.
  std::string self;
  std::string local_address;  // "0.0.0.0:7000"; "" = self's address, or an ephemeral port
  std::uint32_t channel_id = 0;  // 0 = derived from manifest.channel (CRC32C of the name)
  std::shared_ptr<Runtime> runtime;  // nullptr = the process-wide default runtime
  std::shared_ptr<FaultInjector> faults;  // optional: drop/duplicate/reorder/corrupt on receive
  std::size_t receive_queue_limit = 65536;  // messages held for recv(); beyond, oldest unreliable dropped
  // The network operator's capabilities file (tmc/capabilities.h), which the manifest is
  // compiled against: checksum offload, IP multicast / eBPF fan-out / user-space fan-out, MTU,
  // sequencer. nullptr = the file named by $TMC_CAPABILITIES when set (a malformed file throws
  // tmc::ConfigError with FILE:LINE:COL), else none: the manifest is used as written.
  std::shared_ptr<const Capabilities> capabilities;
};

class Channel {
 public:
  Channel(const Manifest& manifest, const ChannelOptions& options = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends to the targets. `per_message` overrides the channel defaults for this message only.
  // With flow_control the sender's memory is bounded by the window: a blocking channel
  // (synchronicity: blocking, the default) waits here for space; an asynchronous one returns a
  // Completion already `refused`.
  Completion send(std::span<const std::byte> payload, const Manifest& per_message = {});
  Completion send(std::string_view payload, const Manifest& per_message = {});

  // Blocking receive; nullopt on timeout or when the channel is closed.
  std::optional<Message> recv();
  std::optional<Message> recv(Duration timeout);
  // Asynchronous receive: from now on messages go to `handler` instead of the recv() queue.
  void on_message(std::function<void(Message)> handler);
  void on_gap(std::function<void(const Gap&)> handler);

  // Application hint (flow_control): bytes the application still holds after recv(), e.g. in its
  // own queue. Credit granted to senders shrinks by it, so they slow down before this endpoint
  // buffers more than the window in total. No effect without flow_control.
  void set_application_queue_bytes(std::uint64_t bytes);

  // Changes the channel defaults for later messages (seed listing 1).
  void update(const Manifest& manifest);
  // Adds a member, or changes an existing member's address.
  void add_member(const Member& member);

  // Also receives what is sent to the IP multicast group "239.1.2.3:7000" (a socket bound to
  // the group address and port joins it; replies and acks still leave from the channel's own
  // socket). Joining the same group again does nothing. Throws std::invalid_argument for a
  // non-multicast address, std::system_error when the socket cannot be bound or joined.
  void join_group(const std::string& group);

  // Connection control (TMC_TYPE_CONTROL, wire_format.h): used by the shim's connection
  // handshake. send_control goes to one member by name, or to a raw "host:port" address when
  // no member has that name; received control packets go to the handler (runtime thread).
  // An ICMP port unreachable answering a datagram sent to A arrives as a REFUSE from A with
  // sender id 0 (nobody listens at A).
  void send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& member_or_address);
  void on_control(std::function<void(std::uint8_t subtype, std::uint32_t argument,
                                     std::uint32_t sender_id, const sockaddr_storage& source)> handler);

  Stats stats() const;
  // The transport plan (one "feature: implementation -- reason" line per decision, against the
  // capabilities) and the primitive pipeline the manifest compiled to.
  std::string plan() const;
  Manifest manifest() const;         // current channel defaults
  std::uint16_t local_port() const;  // bound UDP port
  std::uint32_t channel_id() const;
  void close();  // stops sending; pending completions resolve `closed`

  struct Impl;

 private:
  friend class SequencerService;
  // A dedicated sequencer's endpoint (tmc/sequencer_service.h): `options.self` is its
  // "host:port" name, or "" to take the bound address as the name.
  Channel(const Manifest& manifest, const ChannelOptions& options, bool dedicated_sequencer);
  std::unique_ptr<Impl> impl_;
};

// The plan a manifest compiles to, as Channel::plan() prints it, for the endpoint `self` (a
// member name or "") against `capabilities` (nullptr: none) — for `tmc plan`. No socket is opened
// and no BPF program loaded: an eBPF fan-out shows as chosen, not attached.
std::string describe_plan(const Manifest& manifest, const Capabilities* capabilities = nullptr,
                          const std::string& self = "");

// The thread that runs channels' I/O and timers. One default instance is created lazily;
// the shim makes its own (and re-creates it after fork).
class Runtime {
 public:
  Runtime();
  ~Runtime();
  static std::shared_ptr<Runtime> default_instance();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tmc
