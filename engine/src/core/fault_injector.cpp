#include "tmc/fault_injector.h"

#include <algorithm>

namespace tmc {

FaultInjector::FaultInjector(const FaultConfig& config) : config_(config), random_(config.seed) {}

bool FaultInjector::chance(double probability) {
  if (probability <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(random_) < probability;
}

void FaultInjector::emit_maybe_corrupted(std::span<const std::byte> packet, const sockaddr_storage& source,
                                         const Emit& emit) {
  if (!packet.empty() && chance(config_.corrupt)) {
    ++counters_.corrupted;
    scratch_.assign(packet.begin(), packet.end());
    const std::size_t bit = std::uniform_int_distribution<std::size_t>(0, scratch_.size() * 8 - 1)(random_);
    scratch_[bit / 8] ^= std::byte(1u << (bit % 8));
    emit(scratch_, source);
    return;
  }
  emit(packet, source);
}

void FaultInjector::process(std::span<const std::byte> packet, const sockaddr_storage& source, const Emit& emit) {
  ++counters_.seen;
  // Held packets age by one for every packet that passes.
  for (auto& held : held_) --held.release_after;
  auto due = std::stable_partition(held_.begin(), held_.end(), [](const Held& h) { return h.release_after > 0; });
  std::vector<Held> release(std::make_move_iterator(due), std::make_move_iterator(held_.end()));
  held_.erase(due, held_.end());

  if (chance(config_.drop)) {
    ++counters_.dropped;
  } else if (chance(config_.reorder)) {
    ++counters_.reordered;
    const unsigned depth = std::max(1u, config_.reorder_depth);
    held_.push_back({{packet.begin(), packet.end()}, source,
                     std::uniform_int_distribution<unsigned>(1, depth)(random_)});
  } else {
    emit_maybe_corrupted(packet, source, emit);
    if (chance(config_.duplicate)) {
      ++counters_.duplicated;
      emit_maybe_corrupted(packet, source, emit);
    }
  }
  for (auto& held : release) emit_maybe_corrupted(held.bytes, held.source, emit);
}

void FaultInjector::flush(const Emit& emit) {
  std::vector<Held> release;
  release.swap(held_);
  for (auto& held : release) emit_maybe_corrupted(held.bytes, held.source, emit);
}

}  // namespace tmc
