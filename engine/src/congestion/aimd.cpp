// `aimd`: Reno-like, loss-coupled congestion control — the TCP-like baseline. Follows the
// NewReno shape of RFC 9002 §7 (Appendix B pseudocode) and RFC 5681:
//   slow start: cwnd += bytes acked while cwnd < ssthresh                    (RFC 5681 §3.1)
//   congestion avoidance: cwnd += max_datagram * bytes acked / cwnd          (RFC 9002 §7.3.3)
//   loss or ECN-CE of a packet sent after the current recovery period began:
//     ssthresh = cwnd * loss_reduction; cwnd = max(ssthresh, minimum window) (RFC 9002 §7.3.2)
//   at most one reduction per round trip (recovery period, RFC 9002 §7.3.2);
//   persistent congestion: cwnd = minimum window                             (RFC 9002 §7.6.2)
#include "congestion/params.h"

#include <algorithm>

namespace tmc {
namespace {

// RFC 6928 §2 / RFC 9002 §7.2: initial window of 10 datagrams (bounded by 14720 bytes or 2 datagrams).
constexpr double kInitialWindowPackets = 10;
// RFC 9002 §7.2: kMinimumWindow = 2 * max_datagram_size.
constexpr double kMinimumWindowPackets = 2;
// RFC 9002 §7.3.2 / Appendix B.1: kLossReductionFactor = 0.5.
constexpr double kLossReductionFactor = 0.5;
// RFC 9002 §7.7: pacing gain N = 1.25; doubled while in slow start (window doubles per RTT).
constexpr double kPacingGain = 1.25;
constexpr double kSlowStartPacingGain = 2.0;

class Aimd final : public CongestionController {
 public:
  Aimd(TransportState& state, std::uint64_t initial_window, std::uint64_t minimum_window, double reduction)
      : CongestionController(state), minimum_window_(minimum_window), reduction_(reduction) {
    state_.cwnd_bytes = initial_window;
    state_.ssthresh_bytes = kUnlimitedWindow;
    state_.pacing_rate_bytes_per_sec = 0;
  }
  std::string_view name() const override { return "aimd"; }

 protected:
  void handle_ack(const AckEvent& event) override {
    // RFC 9002 §7.3.2: no window increase for packets sent during the recovery period.
    if (in_recovery(event.largest_acked_sent_time)) return;
    if (state_.cwnd_bytes < state_.ssthresh_bytes) {
      state_.cwnd_bytes += event.bytes_acked;
    } else {
      acked_in_avoidance_ += event.bytes_acked;
      // Byte-counting congestion avoidance: one datagram per window of acknowledged bytes.
      while (acked_in_avoidance_ >= state_.cwnd_bytes) {
        acked_in_avoidance_ -= state_.cwnd_bytes;
        state_.cwnd_bytes += state_.max_datagram_bytes;
      }
    }
    set_pacing_from_window(state_.cwnd_bytes < state_.ssthresh_bytes ? kSlowStartPacingGain : kPacingGain);
  }

  void handle_loss(const LossEvent& event) override {
    if (event.persistent_congestion) {
      state_.cwnd_bytes = minimum_window_;
      recovery_start_ = event.now;
      has_recovery_ = true;
      ++state_.congestion_events;
      set_pacing_from_window(kPacingGain);
      return;
    }
    on_congestion_event(event.largest_lost_sent_time, event.now);
  }

  // RFC 9002 §7.1 / RFC 3168 §5: a CE mark is a congestion signal like a loss.
  void handle_ecn(const EcnEvent& event) override { on_congestion_event(event.largest_acked_sent_time, event.now); }

 private:
  bool in_recovery(TimePoint sent_time) const { return has_recovery_ && sent_time <= recovery_start_; }

  void on_congestion_event(TimePoint sent_time, TimePoint now) {
    if (in_recovery(sent_time)) return;  // one reduction per round trip
    recovery_start_ = now;
    has_recovery_ = true;
    state_.ssthresh_bytes = std::max<std::uint64_t>(
        static_cast<std::uint64_t>(static_cast<double>(state_.cwnd_bytes) * reduction_), minimum_window_);
    state_.cwnd_bytes = state_.ssthresh_bytes;
    acked_in_avoidance_ = 0;
    ++state_.congestion_events;
    set_pacing_from_window(kPacingGain);
  }

  std::uint64_t minimum_window_;
  double reduction_;
  std::uint64_t acked_in_avoidance_ = 0;
  TimePoint recovery_start_{};
  bool has_recovery_ = false;
};

}  // namespace

std::unique_ptr<CongestionController> make_aimd(TransportState& state, const CongestionParams& params) {
  congestion::ParamReader reader("aimd", params);
  const double datagram = static_cast<double>(state.max_datagram_bytes);
  // RFC 9002 §7.2: min(10 * max_datagram_size, max(14720, 2 * max_datagram_size)).
  double default_initial = std::min(kInitialWindowPackets * datagram, std::max(14720.0, 2 * datagram));
  double initial_packets = reader.number("initial_window_packets", default_initial / datagram);
  double minimum_packets = reader.number("minimum_window_packets", kMinimumWindowPackets);
  double reduction = reader.number("loss_reduction", kLossReductionFactor);
  reader.reject_unknown();
  if (minimum_packets < 1) throw CongestionConfigError("congestion_control 'aimd': minimum_window_packets must be >= 1");
  if (initial_packets < minimum_packets)
    throw CongestionConfigError("congestion_control 'aimd': initial_window_packets must be >= minimum_window_packets");
  if (reduction <= 0 || reduction >= 1) throw CongestionConfigError("congestion_control 'aimd': loss_reduction must be in (0, 1)");
  return std::make_unique<Aimd>(state, static_cast<std::uint64_t>(initial_packets * datagram),
                                static_cast<std::uint64_t>(minimum_packets * datagram), reduction);
}

}  // namespace tmc
