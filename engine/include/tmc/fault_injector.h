// Seeded fault injection for tests and benchmarks: drop, duplicate, reorder and corrupt
// datagrams on their way into a channel (ChannelOptions::faults), like the loss generators that
// sit in Aeron's transport chain. Deterministic for a given seed and packet sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include <sys/socket.h>

namespace tmc {

struct FaultConfig {
  double drop = 0;       // probability a packet is lost
  double duplicate = 0;  // probability a packet is delivered twice
  double reorder = 0;    // probability a packet is held back and delivered after later ones
  double corrupt = 0;    // probability one random bit of the packet is flipped
  std::uint64_t seed = 1;
  unsigned reorder_depth = 4;  // a held packet is released after at most this many later packets
};

struct FaultCounters {
  std::uint64_t seen = 0, dropped = 0, duplicated = 0, reordered = 0, corrupted = 0;
};

class FaultInjector {
 public:
  using Emit = std::function<void(std::span<const std::byte> packet, const sockaddr_storage& source)>;

  explicit FaultInjector(const FaultConfig& config);
  // Passes `packet` on through `emit` zero or more times (possibly with held packets before it).
  void process(std::span<const std::byte> packet, const sockaddr_storage& source, const Emit& emit);
  // Releases every held packet.
  void flush(const Emit& emit);
  std::size_t held() const { return held_.size(); }
  const FaultCounters& counters() const { return counters_; }
  const FaultConfig& config() const { return config_; }

 private:
  struct Held {
    std::vector<std::byte> bytes;
    sockaddr_storage source;
    unsigned release_after;
  };
  bool chance(double probability);
  void emit_maybe_corrupted(std::span<const std::byte> packet, const sockaddr_storage& source, const Emit& emit);

  FaultConfig config_;
  std::mt19937_64 random_;
  std::vector<Held> held_;
  std::vector<std::byte> scratch_;
  FaultCounters counters_;
};

}  // namespace tmc
