// tmc::Manifest — the features a channel (or one message) asks for.
//
// One type serves both channel defaults and per-message overrides: every feature is optional,
// and Manifest::merged_over(defaults) fills the unset ones from the channel's manifest. Build it
// in code with designated initialisers or load it from YAML (tmc/manifest_yaml.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tmc {

using Duration = std::chrono::nanoseconds;

// A group member: a name the application uses and the UDP address ("host:port") it listens on.
struct Member {
  std::string name;
  std::string address;
  bool operator==(const Member&) const = default;
};

// multicast: who is in the group and, optionally, an IP multicast group ("239.1.2.3:7000") that
// reaches all of them with one send.
struct Multicast {
  std::vector<Member> members;
  std::string group;  // empty = unicast fan-out
  bool operator==(const Multicast&) const = default;
};

// targets: which members a message is sent to.
struct Targets {
  enum class Kind { all, subset, fraction };
  Kind kind = Kind::all;
  std::vector<std::string> names;  // Kind::subset
  double fraction = 1.0;           // Kind::fraction, in (0, 1]; round(fraction * members), at least 1
  bool operator==(const Targets&) const = default;
};

enum class Ordering {
  none,             // deliver on arrival
  fifo,             // point-to-point order; with reliability, hold back until gaps fill
  fifo_drop_stale,  // the seed's rule: never deliver a message older than the latest delivered
  total,            // group order through a sequencer (transport features)
  module,           // a receive-side ordering loaded from a module: Manifest::ordering_module
};

// ordering: {module: FILE, name: NAME, params: {...}} -- an ordering primitive from a shared
// object (tmc/module_abi.h, ABI version 2). In code: ordering = Ordering::module together with
// ordering_module. The sender marks such messages TMC_FLAG_ORDERED (per-stream sequences, as
// for fifo); the receiving channel's module decides when each is delivered.
struct OrderingModule {
  std::string module;  // shared object path
  std::string name;    // the ordering primitive in it
  std::map<std::string, std::string> params;
  bool operator==(const OrderingModule&) const = default;
};

// reliability: whose acknowledgements complete a send.
struct Reliability {
  enum class Kind { none, all, subset, fraction };
  Kind kind = Kind::none;
  std::vector<std::string> names;  // Kind::subset
  double fraction = 1.0;           // Kind::fraction: round(fraction * targets), at least 1, acks complete a send
  // Retransmission timer (RFC 6298 shape) bounds. Datacenter defaults: sub-millisecond.
  Duration min_rto = std::chrono::microseconds(500);
  Duration max_rto = std::chrono::milliseconds(200);
  Duration initial_rto = std::chrono::milliseconds(1);
  std::uint32_t window = 4096;  // packets in flight per destination
  // A member that acknowledges nothing for this long is declared down: its outstanding
  // packets are abandoned (forward sequence advanced) so it cannot block a quorum.
  Duration member_timeout = std::chrono::seconds(2);
  // Delayed acknowledgement (RFC 9000 13.2.1 max_ack_delay): a receiver holds an in-order ack
  // at most this long, so it can leave with the next packet it sends the same peer (one wake-up
  // and one sendmmsg instead of two); out-of-order and duplicate arrivals are acked at once. A
  // sender adds its own value to the probe timeout (RFC 9002 6.2.1), so both ends of a channel
  // should agree (no handshake carries it). Zero: ack at the end of every receive batch.
  Duration max_ack_delay = std::chrono::microseconds(0);
  bool operator==(const Reliability&) const = default;
};

enum class ErrorChecking { none, crc32c };

// pacing: token bucket.
struct Pacing {
  double rate_bytes_per_second = 0;  // 0 = unpaced
  std::uint64_t burst_bytes = 64 * 1024;
  bool operator==(const Pacing&) const = default;
};

// flow_control: receiver-granted credit.
struct FlowControl {
  std::uint64_t window_bytes = 4 * 1024 * 1024;
  bool operator==(const FlowControl&) const = default;
};

// congestion_control: a built-in algorithm by name, or one loaded from a module.
struct CongestionControl {
  std::string algorithm = "none";  // none | fixed-window | aimd | loss-tolerant | <module name>
  std::string module;              // shared object path for plug-in algorithms
  std::map<std::string, std::string> params;
  bool operator==(const CongestionControl&) const = default;
};

enum class Synchronicity { blocking, asynchronous };
enum class Duplexity { full, half, send_only, receive_only };

struct Manifest {
  std::optional<std::string> channel;  // name; the channel id is derived from it
  std::optional<Multicast> multicast;
  std::optional<Targets> targets;
  std::optional<Ordering> ordering;
  std::optional<OrderingModule> ordering_module;  // with ordering == Ordering::module only
  std::optional<Reliability> reliability;
  std::optional<ErrorChecking> error_checking;
  std::optional<std::uint32_t> mtu;  // path MTU (IP packet size); fragments fit in it
  std::optional<Pacing> pacing;
  std::optional<FlowControl> flow_control;
  std::optional<CongestionControl> congestion_control;
  std::optional<Synchronicity> synchronicity;
  std::optional<Duplexity> duplexity;
  std::optional<Duration> deadline;  // per message: forget an unacked message after this
  // ordering: total: the member that sequences view 0 (then the others by name on failover).
  // Unset: the capabilities file's sequencer, else the lowest-named member.
  std::optional<std::string> sequencer;

  // Fields set here win; unset ones come from `defaults` (ordering and ordering_module are one
  // feature: they come from the same side).
  Manifest merged_over(const Manifest& defaults) const;
  bool operator==(const Manifest&) const = default;
};

const char* to_string(Ordering);
const char* to_string(ErrorChecking);
const char* to_string(Synchronicity);
const char* to_string(Duplexity);

}  // namespace tmc
