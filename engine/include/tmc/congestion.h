// Congestion control: one small interface fed event structs, writing its decisions (congestion
// window, pacing rate) into a TransportState that the channel core and the pacer read.
//
// Contract (sans-IO): a controller never reads a clock, never touches a socket and never reaches
// back into the channel. The core owns one TransportState + controller per path (channel,
// destination) and calls, in this order of events:
//   can_send()              before sending a packet that counts toward the window
//   on_packet_sent()        after it left (adds to bytes_in_flight)
//   on_ack()                for every newly acknowledged packet batch (removes from bytes_in_flight)
//   on_loss()               when loss detection declares packets lost (removes from bytes_in_flight)
//   on_ecn()                when an ACK reports new ECN-CE marks
//   on_packet_discarded()   when a packet is forgotten without a signal (deadline, member down)
// Pacing: see pacing/pacer.h; the pacer reads pacing_rate_bytes_per_sec.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tmc/manifest.h"

namespace tmc {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using CongestionParams = std::map<std::string, std::string>;

inline constexpr std::uint64_t kUnlimitedWindow = std::numeric_limits<std::uint64_t>::max();

// Shared per-path transport state. The controller writes cwnd, ssthresh and pacing rate; the
// CongestionController entry points maintain bytes_in_flight and the RTT estimates.
struct TransportState {
  // Largest UDP payload on the path (RFC 9002 §7.2 max_datagram_size). 1500 MTU - 20 IP - 8 UDP.
  std::uint64_t max_datagram_bytes = 1472;
  std::uint64_t cwnd_bytes = kUnlimitedWindow;       // kUnlimitedWindow = no window
  std::uint64_t ssthresh_bytes = kUnlimitedWindow;
  double pacing_rate_bytes_per_sec = 0;              // 0 = unpaced
  std::uint64_t bytes_in_flight = 0;
  Duration latest_rtt{0};
  Duration smoothed_rtt{0};  // RFC 6298 §2 / RFC 9002 §5.3 EWMA, 0 until the first sample
  Duration min_rtt{0};       // lifetime minimum, 0 until the first sample
  std::uint64_t congestion_events = 0;  // times the controller reduced the window
  std::uint64_t packets_lost = 0;
  std::uint64_t ecn_ce_marks = 0;

  // RFC 9002 §7: a packet may be sent only if bytes_in_flight would not exceed the window.
  bool can_send(std::uint64_t bytes) const {
    return cwnd_bytes >= bytes_in_flight && cwnd_bytes - bytes_in_flight >= bytes;
  }
};

struct PacketSent {
  TimePoint now{};
  std::uint64_t bytes = 0;
  std::uint64_t packet_number = 0;
  bool retransmission = false;
};

struct AckEvent {
  TimePoint now{};
  std::uint64_t bytes_acked = 0;
  Duration rtt_sample{0};             // 0 = no sample in this ack (e.g. only old packets acked)
  TimePoint largest_acked_sent_time{};  // send time of the newest packet this ack covers
};

struct LossEvent {
  TimePoint now{};
  std::uint64_t bytes_lost = 0;
  std::uint64_t packets_lost = 1;
  TimePoint largest_lost_sent_time{};   // send time of the newest lost packet
  bool persistent_congestion = false;   // RFC 9002 §7.6: every packet over a long period lost
};

struct EcnEvent {
  TimePoint now{};
  std::uint64_t ce_marks = 0;           // new ECN-CE marks reported (RFC 9000 §13.4.2)
  TimePoint largest_acked_sent_time{};
};

class CongestionController {
 public:
  explicit CongestionController(TransportState& state) : state_(state) {}
  virtual ~CongestionController() = default;
  CongestionController(const CongestionController&) = delete;
  CongestionController& operator=(const CongestionController&) = delete;

  virtual std::string_view name() const = 0;

  void on_packet_sent(const PacketSent& event);
  void on_ack(const AckEvent& event);
  void on_loss(const LossEvent& event);
  void on_ecn(const EcnEvent& event);
  void on_packet_discarded(std::uint64_t bytes);  // no congestion signal (RFC 9002 §6.4)

  bool can_send(std::uint64_t bytes) const { return state_.can_send(bytes); }
  const TransportState& state() const { return state_; }

 protected:
  // Algorithm hooks; called after the base class updated bytes_in_flight and RTT estimates.
  virtual void handle_sent(const PacketSent&) {}
  virtual void handle_ack(const AckEvent&) = 0;
  virtual void handle_loss(const LossEvent&) = 0;
  virtual void handle_ecn(const EcnEvent&) {}

  // pacing rate = gain * cwnd / smoothed_rtt (RFC 9002 §7.7); unpaced until an RTT sample exists.
  void set_pacing_from_window(double gain);

  TransportState& state_;
};

// Thrown when a congestion_control section names an unknown algorithm or a bad parameter.
class CongestionConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

using CongestionControllerFactory =
    std::function<std::unique_ptr<CongestionController>(TransportState&, const CongestionParams&)>;

// name -> factory. with_builtins() holds none, fixed-window, aimd and loss-tolerant; the module
// manager adds module-provided algorithms. Thread-safe.
class CongestionControllerRegistry {
 public:
  CongestionControllerRegistry() = default;
  static CongestionControllerRegistry& global();  // built-ins; modules register here
  void add_builtins();
  // Throws CongestionConfigError if `name` is taken.
  void add(const std::string& name, CongestionControllerFactory factory);
  bool remove(const std::string& name);
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  // Throws CongestionConfigError: "unknown congestion_control algorithm 'x' (known: a, b, ...)",
  // or the factory's message for a bad parameter.
  std::unique_ptr<CongestionController> create(const std::string& name, TransportState& state,
                                               const CongestionParams& params = {}) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, CongestionControllerFactory> factories_;
};

// Built-in constructors (also reachable through the registry).
std::unique_ptr<CongestionController> make_no_congestion_control(TransportState&, const CongestionParams&);
std::unique_ptr<CongestionController> make_fixed_window(TransportState&, const CongestionParams&);
std::unique_ptr<CongestionController> make_aimd(TransportState&, const CongestionParams&);
std::unique_ptr<CongestionController> make_loss_tolerant(TransportState&, const CongestionParams&);

}  // namespace tmc
