// Reassembly of fragmented messages of one inbound stream. A message is the run of sequences
// [first, first + fragment_count); every fragment but the last carries
// wire::fragment_size(message_length, fragment_count) bytes. Memory is bounded by
// kMaxBufferedBytes: past it the oldest partial message is dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "wire/packet.h"

namespace tmc::core {

struct CompleteMessage {
  std::uint64_t first_sequence = 0;
  std::uint32_t fragment_count = 1;
  std::uint16_t flags = 0;
  std::vector<std::byte> payload;
};

class Reassembler {
 public:
  static constexpr std::size_t kMaxBufferedBytes = 256u << 20;

  // Returns the message when this fragment completes it. Fragments that contradict earlier
  // fragments of the same message are rejected (counted in inconsistent()).
  std::optional<CompleteMessage> on_fragment(const wire::DataHeader& header, std::uint16_t flags,
                                             std::span<const std::byte> payload);
  // Drops partial messages whose every sequence is below `sequence` (abandoned by the sender).
  std::size_t discard_below(std::uint64_t sequence);
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  std::size_t partial_messages() const { return partial_.size(); }
  std::uint64_t inconsistent() const { return inconsistent_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  struct Partial {
    std::uint32_t message_length = 0;
    std::uint32_t fragment_count = 0;
    std::uint32_t received = 0;
    std::uint16_t flags = 0;
    std::vector<bool> have;
    // Capacity message_length from the first fragment. While fragments arrive in order it holds
    // the received prefix (each fragment appended: one copy, no zero-fill); the first one out of
    // order sizes it to message_length (zero-filled once) and fragments are copied into place.
    std::vector<std::byte> buffer;
    bool random_access = false;
  };
  std::map<std::uint64_t, Partial> partial_;  // by first sequence
  std::size_t buffered_bytes_ = 0;
  std::uint64_t inconsistent_ = 0;
  std::uint64_t evicted_ = 0;
};

}  // namespace tmc::core
