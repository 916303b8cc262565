#include "flow_control/big_endian.h"
#include "flow_control/credit.h"

namespace tmc {

std::size_t encode_credit(const CreditMessage& message, std::span<std::byte> packet) {
  if (packet.size() < TMC_CREDIT_HEADER_SIZE) return 0;
  wire_be::store<std::uint8_t>(packet, TMC_OFF_CREDIT_KIND, static_cast<std::uint8_t>(message.kind));
  wire_be::store<std::uint8_t>(packet, TMC_OFF_CREDIT_RESERVED, 0);
  wire_be::store<std::uint16_t>(packet, TMC_OFF_CREDIT_RESERVED + 1, 0);
  wire_be::store<std::uint32_t>(packet, TMC_OFF_CREDIT_EPOCH, message.epoch);
  wire_be::store<std::uint64_t>(packet, TMC_OFF_CREDIT_VALUE, message.value);
  wire_be::store<std::uint32_t>(packet, TMC_OFF_CREDIT_QUEUE, message.application_queue_bytes);
  return TMC_CREDIT_HEADER_SIZE;
}

std::optional<CreditMessage> decode_credit(std::span<const std::byte> packet) {
  if (packet.size() < TMC_CREDIT_HEADER_SIZE) return std::nullopt;
  auto kind = wire_be::load<std::uint8_t>(packet, TMC_OFF_CREDIT_KIND);
  if (kind != TMC_CREDIT_GRANT && kind != TMC_CREDIT_BLOCKED) return std::nullopt;
  if (wire_be::load<std::uint8_t>(packet, TMC_OFF_CREDIT_RESERVED) != 0 ||
      wire_be::load<std::uint16_t>(packet, TMC_OFF_CREDIT_RESERVED + 1) != 0)
    return std::nullopt;
  CreditMessage message;
  message.kind = static_cast<CreditMessage::Kind>(kind);
  message.epoch = wire_be::load<std::uint32_t>(packet, TMC_OFF_CREDIT_EPOCH);
  message.value = wire_be::load<std::uint64_t>(packet, TMC_OFF_CREDIT_VALUE);
  message.application_queue_bytes = wire_be::load<std::uint32_t>(packet, TMC_OFF_CREDIT_QUEUE);
  if (message.kind == CreditMessage::Kind::blocked && message.application_queue_bytes != 0) return std::nullopt;
  return message;
}

}  // namespace tmc
