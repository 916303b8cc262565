// Flow control: receiver-granted credit (TMC_TYPE_CREDIT). Credit is counted in packet
// sequences of the sender's stream to one receiver (or the group stream): the receiver grants
// "you may send sequences < limit". The receiver derives the limit from the lowest sequence it
// still holds (not yet read by the application nor abandoned) plus a window of
// window_bytes / max_packet_payload packets, minus what the application says it still queues.
// So the receiver never buffers more than window_bytes, and a receiver that stops reading stops
// its senders; the sender additionally bounds its own memory (CreditSender::try_reserve).
//
// Both ends start from the same implicit grant (initial floor + window) so no grant is needed
// before the first packet. Lost grants are recovered two ways: the receiver re-grants while the
// sender looks blocked, and a blocked sender sends TMC_CREDIT_BLOCKED probes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "tmc/wire_format_transport.h"

namespace tmc {

struct CreditMessage {
  enum class Kind : std::uint8_t { grant = TMC_CREDIT_GRANT, blocked = TMC_CREDIT_BLOCKED };
  Kind kind = Kind::grant;
  std::uint32_t epoch = 0;                    // data sender's epoch
  std::uint64_t value = 0;                    // grant: limit; blocked: sender's next sequence
  std::uint32_t application_queue_bytes = 0;  // grant only
  bool operator==(const CreditMessage&) const = default;
};

// Writes the CREDIT type part at TMC_OFF_CREDIT_* of `packet` (the caller writes the common
// header with type TMC_TYPE_CREDIT and header_length TMC_CREDIT_HEADER_SIZE). Returns the
// bytes used (TMC_CREDIT_HEADER_SIZE) or 0 if `packet` is too small.
std::size_t encode_credit(const CreditMessage& message, std::span<std::byte> packet);
// Reads the type part of a packet whose common header was already validated. nullopt if the
// packet is short, the kind unknown or reserved bytes are set (count it as malformed).
std::optional<CreditMessage> decode_credit(std::span<const std::byte> packet);

}  // namespace tmc
