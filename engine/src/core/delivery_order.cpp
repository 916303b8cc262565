#include "core/delivery_order.h"

#include <algorithm>

#include "tmc/wire_format.h"

namespace tmc::core {

DeliveryOrder::Verdict DeliveryOrder::on_complete(CompleteMessage&& message, std::uint64_t cumulative,
                                                  std::vector<CompleteMessage>& out) {
  const std::uint16_t flags = message.flags;
  if (!(flags & TMC_FLAG_ORDERED)) {
    out.push_back(std::move(message));
    return Verdict::delivered;
  }
  if (is_stale(message.first_sequence)) {
    ++stale_dropped_;
    return Verdict::stale;
  }
  const bool reliable_fifo = (flags & TMC_FLAG_ACK_REQUESTED) && !(flags & TMC_FLAG_DROP_STALE);
  if (!reliable_fifo) {
    last_ordered_ = message.first_sequence;
    out.push_back(std::move(message));
    return Verdict::delivered;
  }
  const std::uint64_t first = message.first_sequence;
  if (held_.empty() && first < cumulative) {
    // In order (everything earlier is received or abandoned) with nothing held: what holding
    // and releasing it would do, without holding it.
    last_ordered_ = first;
    out.push_back(std::move(message));
    return Verdict::delivered;
  }
  if (held_.empty() || held_.back().first_sequence < first) {
    held_.push_back(std::move(message));
  } else {
    auto at = std::lower_bound(held_.begin(), held_.end(), first,
                               [](const CompleteMessage& held, std::uint64_t key) { return held.first_sequence < key; });
    if (at == held_.end() || at->first_sequence != first) held_.insert(at, std::move(message));  // else: held already
  }
  on_cumulative(cumulative, out);  // releases everything below the cumulative point, in order
  return first >= cumulative ? Verdict::held : Verdict::delivered;
}

void DeliveryOrder::on_cumulative(std::uint64_t cumulative, std::vector<CompleteMessage>& out) {
  while (!held_.empty() && held_.front().first_sequence < cumulative) {
    CompleteMessage& next = held_.front();
    if (is_stale(next.first_sequence)) {
      ++stale_dropped_;
    } else {
      last_ordered_ = next.first_sequence;
      out.push_back(std::move(next));
    }
    held_.pop_front();
  }
}

}  // namespace tmc::core
