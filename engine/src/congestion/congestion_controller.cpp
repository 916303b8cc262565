// CongestionController entry points: in-flight accounting and RTT estimation shared by every
// algorithm, then the algorithm hook.
#include "tmc/congestion.h"

#include <algorithm>

namespace tmc {
namespace {

void subtract_in_flight(TransportState& state, std::uint64_t bytes) {
  state.bytes_in_flight -= std::min(state.bytes_in_flight, bytes);
}

}  // namespace

void CongestionController::on_packet_sent(const PacketSent& event) {
  state_.bytes_in_flight += event.bytes;
  handle_sent(event);
}

void CongestionController::on_ack(const AckEvent& event) {
  subtract_in_flight(state_, event.bytes_acked);
  if (event.rtt_sample > Duration::zero()) {
    state_.latest_rtt = event.rtt_sample;
    if (state_.min_rtt == Duration::zero() || event.rtt_sample < state_.min_rtt) state_.min_rtt = event.rtt_sample;
    if (state_.smoothed_rtt == Duration::zero()) {
      state_.smoothed_rtt = event.rtt_sample;  // RFC 6298 §2.2: first measurement
    } else {
      // RFC 6298 §2.3: SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8.
      state_.smoothed_rtt = (state_.smoothed_rtt * 7 + event.rtt_sample) / 8;
    }
  }
  handle_ack(event);
}

void CongestionController::on_loss(const LossEvent& event) {
  subtract_in_flight(state_, event.bytes_lost);
  state_.packets_lost += event.packets_lost;
  handle_loss(event);
}

void CongestionController::on_ecn(const EcnEvent& event) {
  state_.ecn_ce_marks += event.ce_marks;
  if (event.ce_marks > 0) handle_ecn(event);
}

void CongestionController::on_packet_discarded(std::uint64_t bytes) { subtract_in_flight(state_, bytes); }

void CongestionController::set_pacing_from_window(double gain) {
  if (state_.cwnd_bytes == kUnlimitedWindow || state_.smoothed_rtt <= Duration::zero()) {
    state_.pacing_rate_bytes_per_sec = 0;
    return;
  }
  double seconds = std::chrono::duration<double>(state_.smoothed_rtt).count();
  state_.pacing_rate_bytes_per_sec = gain * static_cast<double>(state_.cwnd_bytes) / seconds;
}

CongestionControllerRegistry& CongestionControllerRegistry::global() {
  static CongestionControllerRegistry* registry = [] {
    auto* created = new CongestionControllerRegistry();
    created->add_builtins();
    return created;
  }();
  return *registry;
}

void CongestionControllerRegistry::add_builtins() {
  add("none", make_no_congestion_control);
  add("fixed-window", make_fixed_window);
  add("aimd", make_aimd);
  add("loss-tolerant", make_loss_tolerant);
}

void CongestionControllerRegistry::add(const std::string& name, CongestionControllerFactory factory) {
  std::lock_guard lock(mutex_);
  if (name.empty()) throw CongestionConfigError("congestion_control algorithm name is empty");
  if (!factories_.emplace(name, std::move(factory)).second)
    throw CongestionConfigError("congestion_control algorithm '" + name + "' is already registered");
}

bool CongestionControllerRegistry::remove(const std::string& name) {
  std::lock_guard lock(mutex_);
  return factories_.erase(name) > 0;
}

bool CongestionControllerRegistry::contains(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return factories_.count(name) > 0;
}

std::vector<std::string> CongestionControllerRegistry::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> result;
  for (const auto& [name, factory] : factories_) result.push_back(name);
  return result;
}

std::unique_ptr<CongestionController> CongestionControllerRegistry::create(const std::string& name,
                                                                          TransportState& state,
                                                                          const CongestionParams& params) const {
  CongestionControllerFactory factory;
  {
    std::lock_guard lock(mutex_);
    auto it = factories_.find(name);
    if (it != factories_.end()) factory = it->second;
  }
  if (!factory) {
    std::string list;
    for (const auto& known : names()) list += (list.empty() ? "" : ", ") + known;
    throw CongestionConfigError("unknown congestion_control algorithm '" + name + "' (known: " + list + ")");
  }
  return factory(state, params);
}

}  // namespace tmc
