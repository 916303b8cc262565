// `loss-tolerant`: delay-based congestion control in the spirit of Swift (SIGCOMM'20) and
// TCP Vegas. Congestion is read from queueing delay (RTT above the path's base RTT), not from
// loss, so random loss on a lossy fabric does not shrink the window — the seed's point that
// TCP's coupling of reliability and congestion control hurts under loss.
//
//   target = base RTT (windowed minimum) + target_queue_delay + endpoint_delay
//   (Swift separates a fabric target from an endpoint target measured with NIC timestamps; this
//   wire format carries no receive timestamps, so the two targets add up. endpoint_delay is the
//   delay a user-space engine adds at both ends — receive thread wake-up, batching, the ack
//   every 8 packets — which is no queue and must not shrink the window.)
//   ack with RTT < target:  slow start (cwnd += acked) until the first delay signal, then
//                           additive increase of additive_increase_packets per RTT
//   ack with RTT >= target: no growth
//   end of a round (one smoothed RTT, at least the base RTT, and at least round_samples RTT
//   samples), judged on the round's MINIMUM
//   RTT sample m: if m >= target, cwnd *= max(1 - beta * (m - target) / m, 1 - max_decrease)
//   — at most once per round. A standing queue raises every sample of a round; an end host
//   that is descheduled for a moment (a receiver thread that did not run, a softirq burst)
//   delays only some acks, and those spikes must not read as congestion. The per-round
//   minimum is TCP Vegas' filter (Brakmo & Peterson 1995, one min-RTT per round trip) and
//   the reason BBR keeps a min-RTT filter; Swift meets the same noise by separating host delay
//   from fabric delay, which needs timestamps this wire format does not carry.
//   ECN-CE:                 cwnd *= 1 - max_decrease, at most once per smoothed RTT
//   loss:                   no window change; only persistent congestion (RFC 9002 §7.6,
//                           every packet over several RTOs lost) resets to the minimum window
//   pacing:                 cwnd / (last round's minimum RTT) * pacing_gain
#include "congestion/params.h"

#include <algorithm>

namespace tmc {
namespace {

using namespace std::chrono_literals;

struct LossTolerantConfig {
  double initial_window_packets = 10;        // RFC 6928 initial window
  double minimum_window_packets = 2;         // RFC 9002 §7.2 kMinimumWindow
  Duration target_queue_delay = 50us;        // datacenter: a few packets of queue at 10-100 Gbit/s
  // Host processing both ends add to an RTT sample. Measured: a TMC channel on an idle veth
  // sees ~90 us RTT where kernel TCP sees ~27 us; with endpoint_delay 0 the controller read that
  // as queue and held ~20 packets (40 MB/s against 230 MB/s at 200 us). 0 for NIC-level RTTs.
  Duration endpoint_delay = 200us;
  double additive_increase_packets = 1;      // per RTT (Swift ai)
  double beta = 0.8;                         // Swift multiplicative-decrease gain
  double max_decrease = 0.5;                 // Swift max_mdf: never more than halve per RTT
  Duration base_rtt_window = 10s;            // base RTT is re-learnt after this (route changes)
  double pacing_gain = 1.25;                 // RFC 9002 §7.7
  // A round also holds at least this many RTT samples: with an ack per 8 packets and a window
  // of ~20 packets a round trip carries only 2-3 samples, too few for a minimum to filter.
  double round_samples = 8;
};

class LossTolerant final : public CongestionController {
 public:
  LossTolerant(TransportState& state, const LossTolerantConfig& config)
      : CongestionController(state), config_(config) {
    const double datagram = static_cast<double>(state_.max_datagram_bytes);
    state_.cwnd_bytes = static_cast<std::uint64_t>(config_.initial_window_packets * datagram);
    state_.ssthresh_bytes = kUnlimitedWindow;
    minimum_window_ = static_cast<std::uint64_t>(config_.minimum_window_packets * datagram);
  }
  std::string_view name() const override { return "loss-tolerant"; }

 protected:
  void handle_ack(const AckEvent& event) override {
    if (event.rtt_sample <= Duration::zero()) return;
    update_base_rtt(event.rtt_sample, event.now);
    const Duration target = base_rtt_ + config_.target_queue_delay + config_.endpoint_delay;
    const double cwnd = static_cast<double>(state_.cwnd_bytes);
    const double datagram = static_cast<double>(state_.max_datagram_bytes);
    if (round_min_rtt_ == Duration::zero() || event.rtt_sample < round_min_rtt_) round_min_rtt_ = event.rtt_sample;
    ++round_samples_;
    if (!round_started_) {
      round_started_ = true;
      round_start_ = event.now;
    } else if (event.now - round_start_ >= std::max(state_.smoothed_rtt, base_rtt_) &&
               static_cast<double>(round_samples_) >= config_.round_samples) {
      end_round(target, event.now);
    }
    if (event.rtt_sample < target) {
      if (slow_start_) {
        state_.cwnd_bytes += event.bytes_acked;
      } else {
        double increase = config_.additive_increase_packets * datagram * static_cast<double>(event.bytes_acked) / cwnd;
        fractional_increase_ += increase;
        auto whole = static_cast<std::uint64_t>(fractional_increase_);
        state_.cwnd_bytes += whole;
        fractional_increase_ -= static_cast<double>(whole);
      }
    }
    set_pacing();
  }

  void handle_loss(const LossEvent& event) override {
    if (!event.persistent_congestion) return;  // random loss is not congestion
    slow_start_ = false;
    state_.cwnd_bytes = minimum_window_;
    state_.ssthresh_bytes = minimum_window_;
    last_decrease_ = event.now;
    has_decreased_ = true;
    ++state_.congestion_events;
    set_pacing();
  }

  void handle_ecn(const EcnEvent& event) override {
    slow_start_ = false;
    if (may_decrease(event.now)) reduce(1 - config_.max_decrease, event.now);
    set_pacing();
  }

 private:
  // Pacing at pacing_gain * cwnd over the last round's minimum RTT — the same filtered delay
  // the window is judged on. The smoothed RTT would follow the host's stalls: one 4 ms sample
  // lifts it by 0.5 ms and the pacer would then hold the sender to a fraction of the window
  // for the next several round trips although no queue formed. Before the first round ends,
  // the smoothed RTT.
  void set_pacing() {
    if (last_round_min_rtt_ == Duration::zero()) {
      set_pacing_from_window(config_.pacing_gain);
      return;
    }
    const double seconds = std::chrono::duration<double>(last_round_min_rtt_).count();
    state_.pacing_rate_bytes_per_sec = config_.pacing_gain * static_cast<double>(state_.cwnd_bytes) / seconds;
  }

  // Judges the round that just ended on its minimum RTT and starts the next one.
  void end_round(Duration target, TimePoint now) {
    const Duration minimum = round_min_rtt_;
    last_round_min_rtt_ = minimum;
    round_min_rtt_ = Duration::zero();
    round_samples_ = 0;
    round_start_ = now;
    if (minimum < target) return;
    slow_start_ = false;
    state_.ssthresh_bytes = state_.cwnd_bytes;
    if (!may_decrease(now)) return;
    const double rtt = std::chrono::duration<double>(minimum).count();
    const double excess = std::chrono::duration<double>(minimum - target).count();
    reduce(std::max(1 - config_.beta * excess / rtt, 1 - config_.max_decrease), now);
  }

  void update_base_rtt(Duration sample, TimePoint now) {
    if (base_rtt_ == Duration::zero() || sample <= base_rtt_ || now - base_rtt_stamp_ > config_.base_rtt_window) {
      base_rtt_ = sample;
      base_rtt_stamp_ = now;
    }
  }

  bool may_decrease(TimePoint now) const {
    return !has_decreased_ || now - last_decrease_ >= std::max(state_.smoothed_rtt, base_rtt_);
  }

  void reduce(double factor, TimePoint now) {
    auto reduced = static_cast<std::uint64_t>(static_cast<double>(state_.cwnd_bytes) * factor);
    state_.cwnd_bytes = std::max(reduced, minimum_window_);
    fractional_increase_ = 0;
    last_decrease_ = now;
    has_decreased_ = true;
    ++state_.congestion_events;
  }

  LossTolerantConfig config_;
  std::uint64_t minimum_window_;
  bool slow_start_ = true;
  double fractional_increase_ = 0;
  Duration base_rtt_{0};
  TimePoint base_rtt_stamp_{};
  bool round_started_ = false;
  TimePoint round_start_{};
  Duration round_min_rtt_{0};  // smallest RTT sample of the current round; zero = none yet
  std::uint64_t round_samples_ = 0;
  Duration last_round_min_rtt_{0};  // minimum RTT of the last completed round (pacing)
  TimePoint last_decrease_{};
  bool has_decreased_ = false;
};

}  // namespace

std::unique_ptr<CongestionController> make_loss_tolerant(TransportState& state, const CongestionParams& params) {
  congestion::ParamReader reader("loss-tolerant", params);
  LossTolerantConfig config;
  config.initial_window_packets = reader.number("initial_window_packets", config.initial_window_packets);
  config.minimum_window_packets = reader.number("minimum_window_packets", config.minimum_window_packets);
  config.target_queue_delay = reader.duration("target_queue_delay", config.target_queue_delay);
  config.endpoint_delay = reader.duration("endpoint_delay", config.endpoint_delay);
  config.additive_increase_packets = reader.number("additive_increase_packets", config.additive_increase_packets);
  config.beta = reader.number("beta", config.beta);
  config.max_decrease = reader.number("max_decrease", config.max_decrease);
  config.base_rtt_window = reader.duration("base_rtt_window", config.base_rtt_window);
  config.pacing_gain = reader.number("pacing_gain", config.pacing_gain);
  config.round_samples = reader.number("round_samples", config.round_samples);
  reader.reject_unknown();
  auto fail = [](const std::string& why) { throw CongestionConfigError("congestion_control 'loss-tolerant': " + why); };
  if (config.minimum_window_packets < 1) fail("minimum_window_packets must be >= 1");
  if (config.initial_window_packets < config.minimum_window_packets) fail("initial_window_packets must be >= minimum_window_packets");
  if (config.additive_increase_packets <= 0) fail("additive_increase_packets must be > 0");
  if (config.beta <= 0) fail("beta must be > 0");
  if (config.max_decrease <= 0 || config.max_decrease >= 1) fail("max_decrease must be in (0, 1)");
  if (config.pacing_gain <= 0) fail("pacing_gain must be > 0");
  if (config.round_samples < 1) fail("round_samples must be >= 1");
  return std::make_unique<LossTolerant>(state, config);
}

}  // namespace tmc
