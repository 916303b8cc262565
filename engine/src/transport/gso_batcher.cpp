#include "transport/gso_batcher.h"

namespace tmc::transport {

void GsoBatcher::plan(std::span<const core::SocketAddress> destinations, std::span<const std::size_t> lengths,
                      const Limits& limits, bool enabled, std::span<const std::uint8_t> classes) {
  const std::size_t count = lengths.size();
  const bool classed = !classes.empty();
  units_.clear();
  order_.clear();
  assigned_.assign(count, false);
  for (std::size_t i = 0; i < count; ++i) {
    if (assigned_[i]) continue;
    assigned_[i] = true;
    Unit unit{static_cast<std::uint32_t>(order_.size()), 1, 0};
    order_.push_back(static_cast<std::uint32_t>(i));
    const std::size_t size = lengths[i];
    // (A datagram of max_bytes — loopback-MTU fragments — can share with nothing: no scan.)
    if (enabled && size > 0 && size <= limits.max_segment_size && limits.max_segments >= 2 &&
        size < limits.max_bytes) {
      std::size_t bytes = size;
      // Later datagrams to the same destination, in queue order; the first one that cannot
      // join ends the run (skipping it would reorder that destination's datagrams).
      for (std::size_t j = i + 1; j < count && unit.count < limits.max_segments; ++j) {
        if (assigned_[j] || destinations[j] != destinations[i]) continue;
        const std::size_t length = lengths[j];
        if (length == 0 || length > size || bytes + length > limits.max_bytes) break;
        if (classed && classes[j] != classes[i]) break;
        assigned_[j] = true;
        order_.push_back(static_cast<std::uint32_t>(j));
        ++unit.count;
        bytes += length;
        if (length < size) break;  // a shorter datagram can only be the last segment
      }
      if (unit.count > 1) unit.segment_size = static_cast<std::uint32_t>(size);
    }
    units_.push_back(unit);
  }
}

}  // namespace tmc::transport
