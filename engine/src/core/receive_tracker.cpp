#include "core/receive_tracker.h"

#include <algorithm>
#include <iterator>

namespace tmc::core {

ReceiveTracker::ReceiveTracker(std::uint64_t start) : floor_(start), forward_(start), cumulative_(start) {}

bool ReceiveTracker::received(std::uint64_t sequence) const {
  auto it = ranges_.upper_bound(sequence);
  if (it == ranges_.begin()) return false;
  --it;
  return sequence >= it->first && sequence < it->second;
}

ReceiveTracker::Arrival ReceiveTracker::on_packet(std::uint64_t sequence) {
  if (sequence < floor_) return Arrival::too_old;
  if (received(sequence)) return Arrival::duplicate;
  const bool late = sequence < cumulative_;
  if (!ranges_.empty()) {
    // In-order arrival, the common case: the packet extends the highest range in place (no
    // range above it to merge with, the range count is unchanged, nothing to prune).
    auto highest = std::prev(ranges_.end());
    if (highest->second == sequence) {
      highest->second = sequence + 1;
      if (!late) advance_cumulative();
      return late ? Arrival::late : Arrival::fresh;
    }
  }
  // Insert [sequence, sequence + 1) and merge with neighbours.
  auto next = ranges_.upper_bound(sequence);
  std::uint64_t start = sequence, end = sequence + 1;
  if (next != ranges_.begin()) {
    auto previous = std::prev(next);
    if (previous->second == sequence) {
      start = previous->first;
      ranges_.erase(previous);
    }
  }
  if (next != ranges_.end() && next->first == end) {
    end = next->second;
    ranges_.erase(next);
  }
  ranges_.emplace(start, end);
  if (!late) advance_cumulative();
  prune();
  return late ? Arrival::late : Arrival::fresh;
}

std::vector<ReceiveTracker::Range> ReceiveTracker::on_forward(std::uint64_t forward) {
  std::vector<Range> gaps;
  if (forward <= forward_) return gaps;
  forward_ = forward;
  if (forward_ <= cumulative_) return gaps;
  // Gaps: sequences in [cumulative_, forward_) not received.
  std::uint64_t cursor = cumulative_;
  auto it = ranges_.upper_bound(cursor);
  while (cursor < forward_) {
    const std::uint64_t next_start = it == ranges_.end() ? forward_ : std::min(it->first, forward_);
    if (next_start > cursor) gaps.push_back({cursor, next_start - cursor});
    if (it == ranges_.end() || it->first >= forward_) break;
    cursor = it->second;
    ++it;
  }
  advance_cumulative();
  return gaps;
}

void ReceiveTracker::advance_cumulative() {
  std::uint64_t c = std::max(cumulative_, forward_);
  auto it = ranges_.upper_bound(c);
  if (it != ranges_.begin()) {
    auto previous = std::prev(it);
    if (previous->second > c) c = previous->second;
  }
  // Ranges are non-adjacent, so one step reaches the first hole.
  cumulative_ = c;
}

void ReceiveTracker::prune() {
  while (ranges_.size() > kMaxRanges) {
    auto oldest = ranges_.begin();
    floor_ = std::max(floor_, oldest->second);
    if (cumulative_ < floor_) {
      // Forgetting unresolved sequences: treat them as abandoned.
      forward_ = std::max(forward_, floor_);
      cumulative_ = floor_;
    }
    ranges_.erase(oldest);
    advance_cumulative();
  }
}

void ReceiveTracker::fill_ack(wire::AckFrame& ack) const {
  ack.cumulative = cumulative_;
  ack.block_count = 0;
  for (auto it = ranges_.upper_bound(cumulative_); it != ranges_.end() && ack.block_count < TMC_MAX_SACK_BLOCKS; ++it) {
    if (it->first <= cumulative_) continue;
    ack.blocks[ack.block_count++] = {it->first, it->second};
  }
}

}  // namespace tmc::core
