#include "core/reassembler.h"

#include <cstring>

#include "tmc/wire_format.h"

namespace tmc::core {

std::optional<CompleteMessage> Reassembler::on_fragment(const wire::DataHeader& header, std::uint16_t flags,
                                                        std::span<const std::byte> payload) {
  if (header.fragment_count == 1) {
    CompleteMessage message;
    message.first_sequence = header.sequence;
    message.flags = flags;
    message.payload.assign(payload.begin(), payload.end());
    return message;
  }
  if (header.message_length > kMaxBufferedBytes || header.message_length > TMC_MAX_MESSAGE_LENGTH) {
    ++inconsistent_;  // larger than any sender may send (wire_format.h)
    return std::nullopt;
  }
  const std::uint64_t first = header.first_sequence();
  auto [it, inserted] = partial_.try_emplace(first);
  Partial& partial = it->second;
  if (inserted) {
    while (buffered_bytes_ + header.message_length > kMaxBufferedBytes && partial_.size() > 1) {
      auto oldest = partial_.begin() == it ? std::next(partial_.begin()) : partial_.begin();
      buffered_bytes_ -= oldest->second.message_length;
      partial_.erase(oldest);
      ++evicted_;
    }
    partial.message_length = header.message_length;
    partial.fragment_count = header.fragment_count;
    partial.flags = flags;
    partial.have.assign(header.fragment_count, false);
    partial.buffer.reserve(header.message_length);
    buffered_bytes_ += header.message_length;
  } else if (partial.message_length != header.message_length || partial.fragment_count != header.fragment_count) {
    ++inconsistent_;
    return std::nullopt;
  }
  if (partial.have[header.fragment_index]) return std::nullopt;
  partial.have[header.fragment_index] = true;
  const std::size_t offset =
      std::size_t(wire::fragment_size(header.message_length, header.fragment_count)) * header.fragment_index;
  if (!partial.random_access && offset == partial.buffer.size()) {
    partial.buffer.insert(partial.buffer.end(), payload.begin(), payload.end());
  } else {
    if (!partial.random_access) {
      partial.buffer.resize(partial.message_length);
      partial.random_access = true;
    }
    if (!payload.empty()) std::memcpy(partial.buffer.data() + offset, payload.data(), payload.size());
  }
  if (++partial.received < partial.fragment_count) return std::nullopt;
  CompleteMessage message;
  message.first_sequence = first;
  message.fragment_count = partial.fragment_count;
  message.flags = partial.flags;
  buffered_bytes_ -= partial.message_length;
  message.payload = std::move(partial.buffer);
  partial_.erase(it);
  return message;
}

std::size_t Reassembler::discard_below(std::uint64_t sequence) {
  std::size_t dropped = 0;
  for (auto it = partial_.begin(); it != partial_.end() && it->first < sequence;) {
    if (it->first + it->second.fragment_count <= sequence) {
      buffered_bytes_ -= it->second.message_length;
      it = partial_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

}  // namespace tmc::core
