// `none`: no window and no pacing; only the accounting of the base class.
#include "congestion/params.h"

namespace tmc {
namespace {

class NoCongestionControl final : public CongestionController {
 public:
  explicit NoCongestionControl(TransportState& state) : CongestionController(state) {
    state_.cwnd_bytes = kUnlimitedWindow;
    state_.ssthresh_bytes = kUnlimitedWindow;
    state_.pacing_rate_bytes_per_sec = 0;
  }
  std::string_view name() const override { return "none"; }

 protected:
  void handle_ack(const AckEvent&) override {}
  void handle_loss(const LossEvent&) override {}
};

}  // namespace

std::unique_ptr<CongestionController> make_no_congestion_control(TransportState& state, const CongestionParams& params) {
  congestion::ParamReader reader("none", params);
  reader.reject_unknown();
  return std::make_unique<NoCongestionControl>(state);
}

}  // namespace tmc
