// Completion of reliable sends: which receivers must acknowledge a message and how many
// acknowledgements complete it (all targets, a named subset, or a fraction of the targets).
// A message is acknowledged by a receiver once every one of its fragments is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <utility>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/completion_state.h"

namespace tmc::core {

class QuorumTracker {
 public:
  struct Requirement {
    std::vector<int> counted;  // member indices whose acks count towards `needed`
    std::size_t needed = 0;    // 0: complete at once
  };

  // Registers a message sent in `fragments` packets to each counted member. Resolves the
  // completion immediately when nothing is needed.
  void add(std::uint64_t message_id, const Requirement& requirement, std::uint32_t fragments,
           std::shared_ptr<Completion::State> completion, TimePoint deadline, std::size_t member_count);

  void on_fragment_acked(std::uint64_t message_id, int member);
  // The member cannot acknowledge any more (declared down, or abandoned).
  void on_member_failed(std::uint64_t message_id, int member);
  // Deadlines that passed resolve `expired`; returns their ids (earliest deadline first) so
  // packets can be abandoned. O(expired · log n): only messages with a deadline are indexed,
  // so a window of thousands of messages without one costs nothing per timer.
  std::vector<std::uint64_t> expire(TimePoint now);
  // Resolves every pending message with `status` (channel closed).
  void resolve_all(SendStatus status);

  bool pending(std::uint64_t message_id) const { return messages_.count(message_id) != 0; }
  std::size_t size() const { return messages_.size(); }
  TimePoint next_deadline() const;  // O(1)

 private:
  static constexpr std::uint32_t kNotCounted = UINT32_MAX;
  struct Pending {
    std::shared_ptr<Completion::State> completion;
    std::vector<std::uint32_t> remaining;  // per member: fragments not yet acked, or kNotCounted
    std::size_t needed = 0;
    std::size_t counted = 0;
    std::size_t acked = 0;
    std::size_t failed = 0;
    TimePoint deadline = kNever;
  };
  using Messages = std::unordered_map<std::uint64_t, Pending>;
  void finish(Messages::iterator it, SendStatus status);
  // Nodes of finished messages (with their `remaining` capacity) are reused by the next add():
  // a reliable sender adds one per message on its thread and finishes it on the runtime
  // thread, a pattern that sent every node through glibc's cross-thread free path.
  void recycle(Messages::node_type&& node);
  static constexpr std::size_t kSpareNodes = 4096;
  Messages messages_;
  std::vector<Messages::node_type> spare_nodes_;
  std::set<std::pair<TimePoint, std::uint64_t>> deadlines_;  // (deadline, id) of pending messages with one
};

}  // namespace tmc::core
