// TotalOrderMember: one participant of a total-order (ordering: total) group, sans-IO.
//
// Senders multicast DATA (TMC_FLAG_TOTAL_ORDER) to every participant, the sequencer included.
// The sequencer of the current view stamps each message with a group sequence (SEQUENCE
// STAMPS); members hold messages until stamped and deliver in group-sequence order.
//   reliable:   a missing stamp is requested (REQUEST, answered by the sequencer or any peer
//               holding it) — delivery waits; missing DATA is the reliability layer's job.
//   unreliable: a missing stamp or message is given hold_timeout to show up, then reported once
//               as a TotalOrderGap and skipped (NOPaxos OUM drop notification), never a stall.
// Sequencer failure: no stamp or heartbeat for sequencer_timeout -> suspected and reported
// (SequencerChange); the next view's sequencer is candidates[view % candidates.size()]
// (candidates default to the participants sorted by name: lowest name first). Members send it
// VIEW_CHANGE with the end of their contiguous stamp prefix and stop delivering beyond it; it
// collects them, fetches the stamps up to the highest end from the member that has them,
// announces NEW_VIEW(start = that end) and stamps the still-unstamped messages. Stamps of a
// replaced view at or above the new view's start are refused (view numbers), so a slow old
// sequencer cannot reorder anything.
//
// Integration (channel core):
//   on_data(id, payload, now)       a complete total-order message (also the member's own sends)
//   on_sequence(from, msg, now)     a decoded TMC_TYPE_SEQUENCE packet from participant `from`
//   poll(now)                       on a timer (every ~heartbeat_interval / 2) and after inputs
//   take_outgoing()                 SEQUENCE messages to send ("" = every other participant)
//   take_deliveries() / take_gaps() / take_sequencer_changes()   to the application (on_gap)
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ordering/sequencer.h"
#include "ordering/stamp_log.h"

namespace tmc {

struct TotalOrderConfig {
  std::string self;
  std::vector<std::string> participants;          // every name in the group (dedicated sequencers too)
  std::vector<std::string> sequencer_candidates;  // preference order; empty = participants sorted
  bool reliable = true;
  SequencerConfig sequencer;
  Duration sequencer_timeout = std::chrono::milliseconds(5);
  Duration request_delay = std::chrono::microseconds(200);    // reliable: wait for reordered stamps
  Duration request_interval = std::chrono::microseconds(500); // re-request / re-send VIEW_CHANGE
  Duration hold_timeout = std::chrono::milliseconds(2);       // unreliable: wait before reporting a gap
  Duration view_change_timeout = std::chrono::milliseconds(10);
  std::size_t log_capacity = 1 << 16;
};

struct TotalOrderOutgoing {
  std::string destination;  // "" = every other participant
  SequenceMessage message;
};

struct TotalOrderDelivery {
  std::uint64_t group_sequence = 0;
  MessageId id;
  std::vector<std::byte> payload;
};

struct TotalOrderGap {
  std::uint64_t first_group_sequence = 0;
  std::uint64_t count = 0;
  std::vector<MessageId> lost{};  // the skipped messages whose stamp was known
};

struct SequencerChange {
  std::uint32_t old_view = 0;
  std::uint32_t new_view = 0;
  std::string suspected;  // sequencer given up on
  std::string sequencer;  // sequencer of new_view
};

struct TotalOrderStats {
  std::uint64_t delivered = 0, gaps_reported = 0, gap_messages = 0;
  std::uint64_t stamps_issued = 0;       // messages this participant stamped while sequencer
  std::uint64_t stale_stamps = 0;        // refused: replaced view
  std::uint64_t duplicate_stamps = 0;
  std::uint64_t duplicate_data = 0;
  std::uint64_t requests_sent = 0, requests_answered = 0;
  std::uint64_t unsequenced_dropped = 0; // unreliable: message whose stamp never came
  std::uint64_t superseded_stamps = 0;   // erased at a new view
  std::uint64_t view_divergence = 0;     // delivered beyond a new view's start (missed the view change)
  std::uint64_t duplicate_placements = 0; // a message stamped twice across a view change: later slot skipped
};

class TotalOrderMember {
 public:
  TotalOrderMember(TotalOrderConfig config, TimePoint now);

  void on_data(const MessageId& id, std::vector<std::byte> payload, TimePoint now);
  void on_sequence(const std::string& from, const SequenceMessage& message, TimePoint now);
  void poll(TimePoint now);
  // The member itself did not run for `paused` (its thread was descheduled): silence during
  // that time is no evidence against the sequencer, so suspicion and view-change clocks move on
  // by it. The channel calls this when its poll timer fired that much late.
  void excuse_pause(Duration paused);
  // The current view's sequencer restarted (the channel saw a new incarnation of it): it lost its
  // log and would stamp from its view's start again, so it is given up on now, as if silent.
  void suspect_sequencer(TimePoint now);

  std::vector<TotalOrderOutgoing> take_outgoing() { return std::exchange(outgoing_, {}); }
  std::vector<TotalOrderDelivery> take_deliveries() { return std::exchange(deliveries_, {}); }
  std::vector<TotalOrderGap> take_gaps() { return std::exchange(gaps_, {}); }
  std::vector<SequencerChange> take_sequencer_changes() { return std::exchange(changes_, {}); }

  std::uint32_t view() const { return view_; }
  const std::string& sequencer() const { return sequencer_name_; }
  bool is_sequencer() const { return normal_ && sequencer_.has_value(); }
  bool in_view_change() const { return !normal_; }
  std::uint64_t next_to_deliver() const { return next_deliver_; }
  std::uint64_t known_end() const { return known_end_; }
  std::size_t held_messages() const { return data_.size(); }
  const TotalOrderStats& stats() const { return stats_; }
  const std::string& sequencer_for(std::uint32_t view) const { return candidates_[view % candidates_.size()]; }

 private:
  struct HeldData {
    std::vector<std::byte> payload;
    TimePoint arrived;
  };
  void pump(TimePoint now);
  void apply_stamps(const SequenceMessage& message, TimePoint now);
  bool stamp_valid(std::uint32_t view, std::uint64_t group_sequence) const;
  void deliver_ready();
  void check_stall(TimePoint now);
  void note_known_end(std::uint64_t end, TimePoint now);
  void request_missing(const std::string& destination, std::uint64_t from, std::uint64_t end);
  TimePoint noticed_missing(std::uint64_t group_sequence) const;
  void start_view_change(std::uint32_t view, TimePoint now);
  void handle_view_change(const std::string& from, const SequenceMessage& message, TimePoint now);
  void handle_new_view(const std::string& from, const SequenceMessage& message, TimePoint now);
  void progress_new_view(TimePoint now);
  void install_view(std::uint64_t start, TimePoint now);
  void enter_view(std::uint32_t view, std::uint64_t start, TimePoint now);
  void send(const std::string& destination, SequenceMessage message);
  std::uint64_t delivery_limit() const;

  TotalOrderConfig config_;
  std::vector<std::string> candidates_;
  std::uint32_t view_ = 0;
  bool normal_ = true;
  std::string sequencer_name_;
  std::map<std::uint32_t, std::uint64_t> view_starts_;
  std::optional<Sequencer> sequencer_;
  StampLog log_;
  std::map<MessageId, HeldData> data_;
  std::uint64_t next_deliver_ = 0;
  std::uint64_t known_end_ = 0;
  TimePoint last_heard_;
  // (known end, when first known): when each group sequence was first known to exist
  std::deque<std::pair<std::uint64_t, TimePoint>> known_marks_;
  std::optional<TimePoint> last_request_;
  std::uint64_t last_request_point_ = 0;
  TimePoint last_expiry_scan_{};
  // view change
  std::uint64_t frozen_end_ = 0;  // delivery limit while not normal; reported in VIEW_CHANGE
  TimePoint view_change_started_{};
  TimePoint view_change_last_sent_{};
  std::set<std::string> suspects_;
  std::map<std::string, std::uint64_t> reports_;  // as the new sequencer: VIEW_CHANGE ends
  bool fetching_ = false;
  std::uint64_t fetch_target_ = 0;
  std::string fetch_from_;
  TimePoint fetch_started_{};
  std::optional<TimePoint> last_fetch_request_;
  std::uint32_t reported_view_ = 0;

  std::vector<TotalOrderOutgoing> outgoing_;
  std::vector<TotalOrderDelivery> deliveries_;
  std::vector<TotalOrderGap> gaps_;
  std::vector<SequencerChange> changes_;
  TotalOrderStats stats_;
};

}  // namespace tmc
