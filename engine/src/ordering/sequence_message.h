// Total order (ordering: total): the messages of TMC_TYPE_SEQUENCE packets and their codec.
// Layout in tmc/wire_format_transport.h and docs/transport.md.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tmc/wire_format_transport.h"

namespace tmc {

// A message in a sender's stream: what the sequencer stamps.
struct MessageId {
  std::uint32_t sender_id = 0;
  std::uint32_t sender_epoch = 0;
  std::uint64_t sender_sequence = 0;  // sequence of the message's first fragment
  auto operator<=>(const MessageId&) const = default;
};

struct SequenceMessage {
  enum class Kind : std::uint8_t {
    stamps = TMC_SEQ_STAMPS,
    request = TMC_SEQ_REQUEST,
    heartbeat = TMC_SEQ_HEARTBEAT,
    view_change = TMC_SEQ_VIEW_CHANGE,
    new_view = TMC_SEQ_NEW_VIEW,
  };
  Kind kind = Kind::stamps;
  std::uint32_t view = 0;
  std::uint64_t group_sequence = 0;  // meaning per kind: see TMC_OFF_SEQ_GROUP_SEQUENCE
  std::uint16_t request_count = 0;   // request: stamps wanted
  std::vector<MessageId> stamps{};   // stamps: consecutive from group_sequence
  bool operator==(const SequenceMessage&) const = default;
};

// Bytes the type part needs (TMC_SEQ_HEADER_SIZE + 16 * stamps); the caller's common header
// carries type TMC_TYPE_SEQUENCE and header_length = this.
std::size_t sequence_encoded_size(const SequenceMessage& message);
// Writes the type part at TMC_OFF_SEQ_*; returns bytes used or 0 if `packet` is too small or
// the message has more than TMC_SEQ_MAX_STAMPS stamps.
std::size_t encode_sequence(const SequenceMessage& message, std::span<std::byte> packet);
// Reads the type part of a packet whose common header was validated; nullopt when malformed
// (short, unknown kind, reserved byte set, stamp count above the limit or beyond the packet,
// stamps on a kind that carries none, a request for 0 or > TMC_SEQ_MAX_STAMPS stamps).
std::optional<SequenceMessage> decode_sequence(std::span<const std::byte> packet);

}  // namespace tmc
