#include "core/quorum_tracker.h"

namespace tmc::core {

void QuorumTracker::add(std::uint64_t message_id, const Requirement& requirement, std::uint32_t fragments,
                        std::shared_ptr<Completion::State> completion, TimePoint deadline, std::size_t member_count) {
  if (requirement.needed == 0) {
    completion->resolve(SendStatus::delivered);
    return;
  }
  if (requirement.counted.size() < requirement.needed) {
    completion->resolve(SendStatus::failed);
    return;
  }
  auto fill = [&](Pending& pending) {
    pending.completion = std::move(completion);
    pending.remaining.assign(member_count, kNotCounted);  // keeps a recycled node's capacity
    for (int member : requirement.counted) pending.remaining[member] = fragments;
    pending.needed = requirement.needed;
    pending.counted = requirement.counted.size();
    pending.acked = pending.failed = 0;
    pending.deadline = deadline;
  };
  bool inserted = false;
  if (!spare_nodes_.empty()) {  // a finished message's node
    Messages::node_type node = std::move(spare_nodes_.back());
    spare_nodes_.pop_back();
    node.key() = message_id;
    fill(node.mapped());
    auto result = messages_.insert(std::move(node));
    inserted = result.inserted;
    if (!inserted) {  // the id is pending already: the first registration stands
      result.node.mapped().completion.reset();
      recycle(std::move(result.node));
    }
  } else {
    Pending pending;
    fill(pending);
    inserted = messages_.emplace(message_id, std::move(pending)).second;
  }
  if (inserted && deadline != kNever) deadlines_.emplace(deadline, message_id);
}

void QuorumTracker::recycle(Messages::node_type&& node) {
  if (spare_nodes_.size() < kSpareNodes) spare_nodes_.push_back(std::move(node));
}

void QuorumTracker::finish(Messages::iterator it, SendStatus status) {
  auto completion = std::move(it->second.completion);
  if (it->second.deadline != kNever) deadlines_.erase({it->second.deadline, it->first});
  recycle(messages_.extract(it));
  completion->resolve(status);
}

void QuorumTracker::on_fragment_acked(std::uint64_t message_id, int member) {
  auto it = messages_.find(message_id);
  if (it == messages_.end()) return;
  auto& remaining = it->second.remaining[member];
  if (remaining == kNotCounted || remaining == 0) return;
  if (--remaining == 0 && ++it->second.acked >= it->second.needed) finish(it, SendStatus::delivered);
}

void QuorumTracker::on_member_failed(std::uint64_t message_id, int member) {
  auto it = messages_.find(message_id);
  if (it == messages_.end()) return;
  auto& remaining = it->second.remaining[member];
  if (remaining == kNotCounted || remaining == 0) return;
  remaining = kNotCounted;
  Pending& pending = it->second;
  if (pending.counted - ++pending.failed < pending.needed) finish(it, SendStatus::failed);
}

std::vector<std::uint64_t> QuorumTracker::expire(TimePoint now) {
  std::vector<std::uint64_t> expired;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const std::uint64_t message_id = deadlines_.begin()->second;
    expired.push_back(message_id);
    finish(messages_.find(message_id), SendStatus::expired);  // also erases the index entry
  }
  return expired;
}

void QuorumTracker::resolve_all(SendStatus status) {
  while (!messages_.empty()) finish(messages_.begin(), status);
}

TimePoint QuorumTracker::next_deadline() const {
  return deadlines_.empty() ? kNever : deadlines_.begin()->first;
}

}  // namespace tmc::core
