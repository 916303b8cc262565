#include "core/delivery_order.h"

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
    // and releasing it would do, without the map node.
    last_ordered_ = first;
    out.push_back(std::move(message));
    return Verdict::delivered;
  }
  held_.emplace(first, std::move(message));
  on_cumulative(cumulative, out);
  return held_.count(first) ? Verdict::held : Verdict::delivered;
}

void DeliveryOrder::on_cumulative(std::uint64_t cumulative, std::vector<CompleteMessage>& out) {
  while (!held_.empty() && held_.begin()->first < cumulative) {
    auto node = held_.extract(held_.begin());
    if (is_stale(node.key())) {
      ++stale_dropped_;
      continue;
    }
    last_ordered_ = node.key();
    out.push_back(std::move(node.mapped()));
  }
}

}  // namespace tmc::core
