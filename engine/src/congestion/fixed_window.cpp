// `fixed-window`: a constant window (window_bytes), paced at gain * window / smoothed RTT. No
// reaction to loss or ECN: a baseline that shows what the adaptive algorithms add.
#include "congestion/params.h"

namespace tmc {
namespace {

// Default window: a 10 Gbit/s x 100 us datacenter bandwidth-delay product, rounded up.
constexpr std::uint64_t kDefaultFixedWindowBytes = 128 * 1024;
// RFC 9002 §7.7: pace at N * cwnd / smoothed_rtt with N = 1.25 to avoid under-utilisation.
constexpr double kPacingGain = 1.25;

class FixedWindow final : public CongestionController {
 public:
  FixedWindow(TransportState& state, std::uint64_t window, double gain)
      : CongestionController(state), gain_(gain) {
    state_.cwnd_bytes = window;
    state_.ssthresh_bytes = window;
    state_.pacing_rate_bytes_per_sec = 0;
  }
  std::string_view name() const override { return "fixed-window"; }

 protected:
  void handle_ack(const AckEvent&) override { set_pacing_from_window(gain_); }
  void handle_loss(const LossEvent&) override {}

 private:
  double gain_;
};

}  // namespace

std::unique_ptr<CongestionController> make_fixed_window(TransportState& state, const CongestionParams& params) {
  congestion::ParamReader reader("fixed-window", params);
  std::uint64_t window = reader.bytes("window_bytes", kDefaultFixedWindowBytes);
  double gain = reader.number("pacing_gain", kPacingGain);
  reader.reject_unknown();
  if (window < state.max_datagram_bytes)
    throw CongestionConfigError("congestion_control 'fixed-window': window_bytes must be at least one datagram (" +
                                std::to_string(state.max_datagram_bytes) + " bytes)");
  if (gain <= 0) throw CongestionConfigError("congestion_control 'fixed-window': pacing_gain must be > 0");
  return std::make_unique<FixedWindow>(state, window, gain);
}

}  // namespace tmc
