// The stamps a member (or a dedicated sequencer) knows: group sequence -> (message, view).
// Used to deliver in order, to answer stamp requests from peers (any holder may answer) and to
// tell a new sequencer which messages are already placed. Bounded: entries more than
// `capacity` below the delivery point are pruned.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "ordering/sequence_message.h"

namespace tmc {

struct LoggedStamp {
  MessageId id;
  std::uint32_t view = 0;
};

class StampLog {
 public:
  explicit StampLog(std::size_t capacity = 1 << 16) : capacity_(capacity) {}

  // False if the slot is taken (a duplicate stamp). A message may be placed twice (re-stamped by
  // a new sequencer that never learnt its first stamp): find(id) names the first placement, and
  // members deliver it there and skip the later slot.
  bool insert(std::uint64_t group_sequence, const LoggedStamp& stamp);
  const LoggedStamp* find(std::uint64_t group_sequence) const;
  std::optional<std::uint64_t> find(const MessageId& id) const;  // first placement
  // Drops entries at or above `group_sequence` stamped in a view older than `view` (they were
  // issued by a replaced sequencer after the new view's start). Returns how many.
  std::size_t erase_superseded(std::uint64_t group_sequence, std::uint32_t view);
  // First group sequence >= `from` without an entry.
  std::uint64_t contiguous_end(std::uint64_t from) const;
  // STAMPS messages for the held entries in [first, first + count), split by view and runs.
  std::vector<SequenceMessage> answer(std::uint64_t first, std::uint64_t count) const;
  void prune_below(std::uint64_t delivery_point);
  template <typename Visitor>
  void for_each(Visitor&& visit) const {
    for (const auto& [group_sequence, stamp] : by_sequence_) visit(group_sequence, stamp);
  }
  std::uint64_t end() const { return by_sequence_.empty() ? 0 : by_sequence_.rbegin()->first + 1; }
  std::size_t size() const { return by_sequence_.size(); }

 private:
  void unindex(std::uint64_t group_sequence, const MessageId& id);
  std::size_t capacity_;
  std::map<std::uint64_t, LoggedStamp> by_sequence_;
  std::map<MessageId, std::uint64_t> by_id_;
};

}  // namespace tmc
