#include "ordering/stamp_log.h"

namespace tmc {

bool StampLog::insert(std::uint64_t group_sequence, const LoggedStamp& stamp) {
  if (by_sequence_.count(group_sequence)) return false;
  by_sequence_.emplace(group_sequence, stamp);
  auto [it, inserted] = by_id_.emplace(stamp.id, group_sequence);
  if (!inserted && group_sequence < it->second) it->second = group_sequence;  // index the first placement
  return true;
}

void StampLog::unindex(std::uint64_t group_sequence, const MessageId& id) {
  auto it = by_id_.find(id);
  if (it != by_id_.end() && it->second == group_sequence) by_id_.erase(it);
}

const LoggedStamp* StampLog::find(std::uint64_t group_sequence) const {
  auto it = by_sequence_.find(group_sequence);
  return it == by_sequence_.end() ? nullptr : &it->second;
}

std::optional<std::uint64_t> StampLog::find(const MessageId& id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::size_t StampLog::erase_superseded(std::uint64_t group_sequence, std::uint32_t view) {
  std::size_t erased = 0;
  for (auto it = by_sequence_.lower_bound(group_sequence); it != by_sequence_.end();) {
    if (it->second.view < view) {
      unindex(it->first, it->second.id);
      it = by_sequence_.erase(it);
      ++erased;
    } else {
      ++it;
    }
  }
  return erased;
}

std::uint64_t StampLog::contiguous_end(std::uint64_t from) const {
  std::uint64_t end = from;
  for (auto it = by_sequence_.find(from); it != by_sequence_.end() && it->first == end; ++it) ++end;
  return end;
}

std::vector<SequenceMessage> StampLog::answer(std::uint64_t first, std::uint64_t count) const {
  std::vector<SequenceMessage> replies;
  for (auto it = by_sequence_.lower_bound(first); it != by_sequence_.end() && it->first < first + count; ++it) {
    SequenceMessage* current = replies.empty() ? nullptr : &replies.back();
    bool extends = current && current->view == it->second.view &&
                   current->group_sequence + current->stamps.size() == it->first &&
                   current->stamps.size() < TMC_SEQ_MAX_STAMPS;
    if (!extends) {
      replies.push_back({.kind = SequenceMessage::Kind::stamps, .view = it->second.view, .group_sequence = it->first});
      current = &replies.back();
    }
    current->stamps.push_back(it->second.id);
  }
  return replies;
}

void StampLog::prune_below(std::uint64_t delivery_point) {
  if (delivery_point <= capacity_) return;
  const std::uint64_t keep_from = delivery_point - capacity_;
  while (!by_sequence_.empty() && by_sequence_.begin()->first < keep_from) {
    unindex(by_sequence_.begin()->first, by_sequence_.begin()->second.id);
    by_sequence_.erase(by_sequence_.begin());
  }
}

}  // namespace tmc
