// Sequencer: assigns consecutive group sequence numbers, within one view, to the total-order
// messages it sees, and emits them as batched STAMPS plus a HEARTBEAT when idle (liveness and
// the next group sequence, so receivers detect lost tail stamps). Sans-IO; runs inside the
// member that the view designates (TotalOrderMember) or in a dedicated process.
#pragma once

#include <deque>
#include <map>
#include <vector>

#include "ordering/sequence_message.h"
#include "tmc/congestion.h"

namespace tmc {

struct SequencerConfig {
  Duration heartbeat_interval = std::chrono::microseconds(500);
  std::size_t max_stamps_per_packet = TMC_SEQ_MAX_STAMPS;
  std::size_t dedup_capacity = 1 << 16;  // remembered stamped messages (duplicates, retransmissions)
};

class Sequencer {
 public:
  Sequencer(const SequencerConfig& config, std::uint32_t view, std::uint64_t first_group_sequence, TimePoint now);

  // A total-order message (its first fragment) reached the sequencer. Returns its group
  // sequence; a duplicate gets the one it already has (and no new stamp).
  std::uint64_t on_message(const MessageId& id);
  // Before the first on_message of a new view: messages already placed by earlier views.
  void mark_already_stamped(const MessageId& id, std::uint64_t group_sequence);
  bool already_stamped(const MessageId& id) const { return stamped_.count(id) > 0; }
  // Stamps to multicast (in batches), or a heartbeat if nothing was sent for an interval.
  std::vector<SequenceMessage> poll(TimePoint now);

  std::uint32_t view() const { return view_; }
  std::uint64_t next_group_sequence() const { return next_; }

 private:
  void remember(const MessageId& id, std::uint64_t group_sequence);
  SequencerConfig config_;
  std::uint32_t view_;
  std::uint64_t next_;
  std::vector<MessageId> unsent_;
  std::uint64_t unsent_first_ = 0;
  std::map<MessageId, std::uint64_t> stamped_;
  std::deque<MessageId> stamped_order_;
  TimePoint last_sent_;
};

}  // namespace tmc
