// Receiver-side ordering of one inbound stream, decided per message from its wire flags:
//   no TMC_FLAG_ORDERED                      deliver on completion (ordering: none)
//   ORDERED + DROP_STALE, or ORDERED without
//   ACK_REQUESTED (unreliable fifo)          deliver unless older than the latest ordered
//                                            message delivered (the seed's fifo-drop-stale)
//   ORDERED + ACK_REQUESTED (reliable fifo)  hold until every earlier sequence is received or
//                                            abandoned (cumulative point passes it), then
//                                            deliver in sequence order
// The built-in ReceiveOrdering (core/receive_ordering.h).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/reassembler.h"
#include "core/receive_ordering.h"

namespace tmc::core {

class DeliveryOrder final : public ReceiveOrdering {
 public:
  enum class Verdict { delivered, held, stale };

  // `out` receives messages to deliver now, in order.
  Verdict on_complete(CompleteMessage&& message, std::uint64_t cumulative, std::vector<CompleteMessage>& out);
  // The cumulative point moved: release held messages it now covers.
  void on_cumulative(std::uint64_t cumulative, std::vector<CompleteMessage>& out);
  std::size_t held() const override { return held_.size(); }
  std::uint64_t stale_dropped() const { return stale_dropped_; }

  // ReceiveOrdering: the same, for the channel's one call site (late messages never come here,
  // time plays no part).
  void on_message(CompleteMessage&& message, std::uint64_t cumulative, bool, TimePoint,
                  std::vector<CompleteMessage>& out) override {
    on_complete(std::move(message), cumulative, out);
  }
  void on_progress(std::uint64_t cumulative, TimePoint, std::vector<CompleteMessage>& out) override {
    on_cumulative(cumulative, out);
  }
  std::uint64_t dropped() const override { return stale_dropped_; }

 private:
  bool is_stale(std::uint64_t first_sequence) const {
    return last_ordered_.has_value() && first_sequence <= *last_ordered_;
  }
  std::optional<std::uint64_t> last_ordered_;  // first sequence of the latest ordered delivery
  // Held reliable-fifo messages, ascending by first sequence. Behind a loss most of a round
  // trip's messages wait here, arriving in ascending order above the hole (appended) and
  // leaving from the front: a deque costs one block per ~12 messages, where a map had cost a
  // node allocation (and a rebalancing) per held message. A retransmission that fills a later
  // hole while an earlier one is still open is inserted in the middle.
  std::deque<CompleteMessage> held_;
  std::uint64_t stale_dropped_ = 0;
};

}  // namespace tmc::core
