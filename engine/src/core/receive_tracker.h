// Receiver side of one inbound stream's reliability: which sequences arrived, which the sender
// abandoned (forward sequence, cf. RFC 3758 FORWARD-TSN), the cumulative point and the SACK blocks
// (RFC 2018 shape) an acknowledgement reports. Memory is bounded: at most kMaxRanges received
// ranges are remembered; older ones are forgotten and their sequences count as too old.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "wire/packet.h"

namespace tmc::core {

class ReceiveTracker {
 public:
  static constexpr std::size_t kMaxRanges = 8192;  // > half the largest send window: holes are never forgotten while a reliable sender can still fill them

  enum class Arrival {
    fresh,      // first copy; at or above the cumulative point
    late,       // first copy, but below the cumulative point (the sender had abandoned it)
    duplicate,  // seen before
    too_old,    // below everything remembered
  };
  struct Range {
    std::uint64_t first;
    std::uint64_t count;
  };

  // The first packet of a sender epoch starts the stream at `forward` (its forward sequence).
  explicit ReceiveTracker(std::uint64_t start);

  Arrival on_packet(std::uint64_t sequence);
  // Advances the abandonment point. Returns the never-received ranges it skipped (gaps).
  std::vector<Range> on_forward(std::uint64_t forward);

  std::uint64_t cumulative() const { return cumulative_; }
  // One past the highest sequence received or abandoned: a packet at exactly this sequence
  // extends the stream without opening a new gap.
  std::uint64_t next_expected() const {
    return ranges_.empty() ? cumulative_ : std::max(cumulative_, ranges_.rbegin()->second);
  }
  bool received(std::uint64_t sequence) const;
  // Fills SACK blocks above the cumulative point, lowest first, at most TMC_MAX_SACK_BLOCKS.
  void fill_ack(wire::AckFrame& ack) const;
  std::size_t range_count() const { return ranges_.size(); }

 private:
  void advance_cumulative();
  void prune();
  std::map<std::uint64_t, std::uint64_t> ranges_;  // start -> end (exclusive), disjoint, non-adjacent
  std::uint64_t floor_;       // sequences below are too old to judge
  std::uint64_t forward_;     // sender abandoned everything below
  std::uint64_t cumulative_;  // lowest sequence neither received nor abandoned
};

}  // namespace tmc::core
