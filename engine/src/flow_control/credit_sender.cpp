#include "flow_control/credit_sender.h"

#include <algorithm>
#include <limits>

namespace tmc {

CreditSender::CreditSender(const CreditConfig& config, std::uint32_t epoch)
    : config_(config), epoch_(epoch),
      buffer_limit_(config.send_buffer_bytes ? config.send_buffer_bytes : config.window_bytes) {}

void CreditSender::add_receiver(std::uint32_t receiver, std::uint64_t initial_floor) {
  limits_[receiver] = initial_floor + config_.window_packets();
}

void CreditSender::remove_receiver(std::uint32_t receiver) { limits_.erase(receiver); }

void CreditSender::on_grant(std::uint32_t receiver, const CreditMessage& message) {
  if (message.kind != CreditMessage::Kind::grant || message.epoch != epoch_) return;
  auto it = limits_.find(receiver);
  if (it == limits_.end()) return;
  it->second = std::max(it->second, message.value);  // reordered old grants change nothing
}

std::uint64_t CreditSender::limit() const {
  std::uint64_t result = std::numeric_limits<std::uint64_t>::max();
  for (const auto& [receiver, limit] : limits_) result = std::min(result, limit);
  return result;
}

std::vector<std::pair<std::uint32_t, CreditMessage>> CreditSender::poll(std::uint64_t next_sequence, TimePoint now) {
  std::vector<std::pair<std::uint32_t, CreditMessage>> probes;
  if (can_send(next_sequence)) {
    blocked_ = false;
    return probes;
  }
  if (!blocked_) {
    blocked_ = true;
    blocked_since_ = now;
    last_probe_ = now;
    return probes;  // first probe after one interval: a grant may be on its way
  }
  if (now - last_probe_ < config_.blocked_probe_interval) return probes;
  last_probe_ = now;
  for (const auto& [receiver, limit] : limits_) {
    if (next_sequence >= limit)
      probes.push_back({receiver, CreditMessage{.kind = CreditMessage::Kind::blocked, .epoch = epoch_, .value = next_sequence}});
  }
  return probes;
}

bool CreditSender::try_reserve(std::uint64_t bytes) {
  if (buffered_ != 0 && buffered_ + bytes > buffer_limit_) return false;
  buffered_ += bytes;
  return true;
}

void CreditSender::release(std::uint64_t bytes) { buffered_ -= std::min(buffered_, bytes); }

}  // namespace tmc
