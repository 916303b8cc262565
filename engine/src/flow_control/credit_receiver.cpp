#include "flow_control/credit_receiver.h"

#include <algorithm>
#include <limits>

namespace tmc {

CreditReceiver::CreditReceiver(const CreditConfig& config, std::uint32_t sender_epoch, std::uint64_t initial_floor)
    : config_(config), epoch_(sender_epoch), floor_(initial_floor), granted_(initial_floor + config.window_packets()),
      highest_seen_plus_one_(initial_floor) {}

bool CreditReceiver::on_packet(std::uint64_t sequence) {
  if (sequence >= granted_) {
    ++violations_;
    return false;
  }
  highest_seen_plus_one_ = std::max(highest_seen_plus_one_, sequence + 1);
  if (highest_seen_plus_one_ >= granted_) sender_waiting_ = true;  // all credit used
  return true;
}

void CreditReceiver::on_released(std::uint64_t floor) { floor_ = std::max(floor_, floor); }

void CreditReceiver::on_blocked(const CreditMessage& message) {
  if (message.epoch != epoch_) return;
  sender_waiting_ = true;
  if (message.value < granted_) probe_answer_pending_ = true;  // it missed a grant
}

std::uint64_t CreditReceiver::target_limit() const {
  const std::uint64_t window = config_.window_packets();
  const std::uint64_t payload = std::max<std::uint64_t>(config_.max_packet_payload_bytes, 1);
  const std::uint64_t queued_packets = (application_queue_bytes_ + payload - 1) / payload;
  return floor_ + (window - std::min(window, queued_packets));
}

std::optional<CreditMessage> CreditReceiver::poll(TimePoint) {
  const std::uint64_t target = target_limit();
  const std::uint64_t worth_granting = std::max<std::uint64_t>(1, config_.window_packets() / 4);
  bool send = false;
  if (target > granted_ && (target - granted_ >= worth_granting || sender_waiting_)) {
    granted_ = target;  // credit is never revoked: granted_ only grows
    send = true;
  } else if (probe_answer_pending_) {
    send = true;
  }
  if (!send) return std::nullopt;
  sender_waiting_ = false;
  probe_answer_pending_ = false;
  std::uint64_t queue = std::min<std::uint64_t>(application_queue_bytes_, std::numeric_limits<std::uint32_t>::max());
  return CreditMessage{.kind = CreditMessage::Kind::grant, .epoch = epoch_, .value = granted_,
                       .application_queue_bytes = static_cast<std::uint32_t>(queue)};
}

}  // namespace tmc
