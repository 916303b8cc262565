#include "flow_control/big_endian.h"
#include "ordering/sequence_message.h"

namespace tmc {

std::size_t sequence_encoded_size(const SequenceMessage& message) {
  return TMC_SEQ_HEADER_SIZE + TMC_SEQ_STAMP_SIZE * message.stamps.size();
}

std::size_t encode_sequence(const SequenceMessage& message, std::span<std::byte> packet) {
  const std::size_t size = sequence_encoded_size(message);
  if (message.stamps.size() > TMC_SEQ_MAX_STAMPS || packet.size() < size) return 0;
  const bool has_stamps = message.kind == SequenceMessage::Kind::stamps;
  if (!has_stamps && !message.stamps.empty()) return 0;
  wire_be::store<std::uint8_t>(packet, TMC_OFF_SEQ_KIND, static_cast<std::uint8_t>(message.kind));
  wire_be::store<std::uint8_t>(packet, TMC_OFF_SEQ_RESERVED, 0);
  std::uint16_t count = message.kind == SequenceMessage::Kind::request ? message.request_count
                                                                       : static_cast<std::uint16_t>(message.stamps.size());
  wire_be::store<std::uint16_t>(packet, TMC_OFF_SEQ_COUNT, count);
  wire_be::store<std::uint32_t>(packet, TMC_OFF_SEQ_VIEW, message.view);
  wire_be::store<std::uint64_t>(packet, TMC_OFF_SEQ_GROUP_SEQUENCE, message.group_sequence);
  std::size_t offset = TMC_SEQ_HEADER_SIZE;
  for (const MessageId& id : message.stamps) {
    wire_be::store<std::uint32_t>(packet, offset + TMC_SEQ_STAMP_SENDER_ID, id.sender_id);
    wire_be::store<std::uint32_t>(packet, offset + TMC_SEQ_STAMP_SENDER_EPOCH, id.sender_epoch);
    wire_be::store<std::uint64_t>(packet, offset + TMC_SEQ_STAMP_SENDER_SEQUENCE, id.sender_sequence);
    offset += TMC_SEQ_STAMP_SIZE;
  }
  return size;
}

std::optional<SequenceMessage> decode_sequence(std::span<const std::byte> packet) {
  if (packet.size() < TMC_SEQ_HEADER_SIZE) return std::nullopt;
  auto kind = wire_be::load<std::uint8_t>(packet, TMC_OFF_SEQ_KIND);
  if (kind < TMC_SEQ_STAMPS || kind > TMC_SEQ_KIND_MAX) return std::nullopt;
  if (wire_be::load<std::uint8_t>(packet, TMC_OFF_SEQ_RESERVED) != 0) return std::nullopt;
  SequenceMessage message;
  message.kind = static_cast<SequenceMessage::Kind>(kind);
  auto count = wire_be::load<std::uint16_t>(packet, TMC_OFF_SEQ_COUNT);
  message.view = wire_be::load<std::uint32_t>(packet, TMC_OFF_SEQ_VIEW);
  message.group_sequence = wire_be::load<std::uint64_t>(packet, TMC_OFF_SEQ_GROUP_SEQUENCE);
  if (message.kind == SequenceMessage::Kind::request) {
    if (count == 0 || count > TMC_SEQ_MAX_STAMPS) return std::nullopt;
    message.request_count = count;
    return message;
  }
  if (message.kind != SequenceMessage::Kind::stamps) {
    if (count != 0) return std::nullopt;
    return message;
  }
  if (count == 0 || count > TMC_SEQ_MAX_STAMPS) return std::nullopt;
  if (packet.size() < TMC_SEQ_HEADER_SIZE + std::size_t{TMC_SEQ_STAMP_SIZE} * count) return std::nullopt;
  if (message.group_sequence + count < message.group_sequence) return std::nullopt;  // wraps
  std::size_t offset = TMC_SEQ_HEADER_SIZE;
  for (std::uint16_t i = 0; i < count; ++i) {
    message.stamps.push_back({wire_be::load<std::uint32_t>(packet, offset + TMC_SEQ_STAMP_SENDER_ID),
                              wire_be::load<std::uint32_t>(packet, offset + TMC_SEQ_STAMP_SENDER_EPOCH),
                              wire_be::load<std::uint64_t>(packet, offset + TMC_SEQ_STAMP_SENDER_SEQUENCE)});
    offset += TMC_SEQ_STAMP_SIZE;
  }
  return message;
}

}  // namespace tmc
