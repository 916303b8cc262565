#include "ordering/sequencer.h"

#include <algorithm>

namespace tmc {

Sequencer::Sequencer(const SequencerConfig& config, std::uint32_t view, std::uint64_t first_group_sequence, TimePoint now)
    : config_(config), view_(view), next_(first_group_sequence), last_sent_(now) {
  config_.max_stamps_per_packet = std::clamp<std::size_t>(config_.max_stamps_per_packet, 1, TMC_SEQ_MAX_STAMPS);
}

void Sequencer::remember(const MessageId& id, std::uint64_t group_sequence) {
  stamped_.emplace(id, group_sequence);
  stamped_order_.push_back(id);
  while (stamped_order_.size() > config_.dedup_capacity) {
    stamped_.erase(stamped_order_.front());
    stamped_order_.pop_front();
  }
}

std::uint64_t Sequencer::on_message(const MessageId& id) {
  if (auto it = stamped_.find(id); it != stamped_.end()) return it->second;
  if (unsent_.empty()) unsent_first_ = next_;
  unsent_.push_back(id);
  remember(id, next_);
  return next_++;
}

void Sequencer::mark_already_stamped(const MessageId& id, std::uint64_t group_sequence) {
  if (!stamped_.count(id)) remember(id, group_sequence);
}

std::vector<SequenceMessage> Sequencer::poll(TimePoint now) {
  std::vector<SequenceMessage> out;
  for (std::size_t offset = 0; offset < unsent_.size(); offset += config_.max_stamps_per_packet) {
    std::size_t end = std::min(unsent_.size(), offset + config_.max_stamps_per_packet);
    out.push_back({.kind = SequenceMessage::Kind::stamps, .view = view_, .group_sequence = unsent_first_ + offset,
                   .stamps = std::vector<MessageId>(unsent_.begin() + offset, unsent_.begin() + end)});
  }
  unsent_.clear();
  if (!out.empty()) {
    last_sent_ = now;
  } else if (now - last_sent_ >= config_.heartbeat_interval) {
    out.push_back({.kind = SequenceMessage::Kind::heartbeat, .view = view_, .group_sequence = next_});
    last_sent_ = now;
  }
  return out;
}

}  // namespace tmc
