// Packet codec: turns datagrams into validated header structs and back. The layout is in
// tmc/wire_format.h and docs/wire-format.md. parse_packet() trusts nothing: every length,
// count and range is checked before use, and a packet that fails any check is rejected with
// the reason (the caller counts and drops it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tmc/wire_format.h"

namespace tmc::wire {

enum class PacketType : std::uint8_t {
  data = TMC_TYPE_DATA,
  ack = TMC_TYPE_ACK,
  control = TMC_TYPE_CONTROL,
  sequence = TMC_TYPE_SEQUENCE,
  credit = TMC_TYPE_CREDIT,
};

struct CommonHeader {
  PacketType type = PacketType::data;
  std::uint16_t flags = 0;
  std::uint16_t header_length = 0;  // filled by the encoders
  std::uint32_t channel_id = 0;
  std::uint32_t sender_id = 0;
  std::uint32_t epoch = 0;
  std::uint32_t checksum = 0;        // as received; encoders compute it
  std::uint16_t payload_length = 0;  // filled by the encoders
  std::uint16_t stream = 0;
};

struct DataHeader {
  std::uint64_t sequence = 0;
  std::uint64_t forward_sequence = 0;
  std::uint32_t message_length = 0;
  std::uint32_t fragment_index = 0;
  std::uint32_t fragment_count = 1;
  std::uint64_t first_sequence() const { return sequence - fragment_index; }
};

struct SackBlock {
  std::uint64_t start = 0;  // first received sequence
  std::uint64_t end = 0;    // one past the last
  bool operator==(const SackBlock&) const = default;
};

struct AckFrame {
  std::uint32_t acked_epoch = 0;
  std::uint32_t ack_delay_us = 0;
  std::uint64_t cumulative = 0;  // every sequence below is received or abandoned
  std::uint32_t receiver_window = 0;
  std::uint16_t block_count = 0;
  std::array<SackBlock, TMC_MAX_SACK_BLOCKS> blocks{};
  std::span<const SackBlock> sacks() const { return {blocks.data(), block_count}; }
};

struct ControlFrame {
  std::uint8_t subtype = 0;
  std::uint32_t argument = 0;
};

struct ParsedPacket {
  CommonHeader common;
  DataHeader data;        // type data
  AckFrame ack;           // type ack
  ControlFrame control;   // type control
  std::span<const std::byte> type_part;  // bytes after the common header up to header_length
  std::span<const std::byte> payload;
};

enum class ParseError {
  ok,
  too_short,
  bad_magic,
  bad_version,
  bad_type,
  bad_flags,
  bad_header_length,
  bad_payload_length,
  bad_checksum,
  bad_fragment,
  bad_sequence,
  bad_sack,
  bad_control,
};
const char* to_string(ParseError);

// Validates and decodes `datagram`. On ok, spans in `out` point into `datagram`.
ParseError parse_packet(std::span<const std::byte> datagram, ParsedPacket& out);

// Maximum payload of one DATA packet for a path MTU (IPv4 20 + UDP 8 + DATA header 56).
constexpr std::size_t max_data_payload(std::size_t mtu) { return mtu - 20 - 8 - TMC_DATA_HEADER_SIZE; }

// Fragment geometry shared by sender and receiver: every fragment but the last carries
// fragment_size(length, count) bytes.
constexpr std::uint32_t fragment_size(std::uint32_t message_length, std::uint32_t fragment_count) {
  return fragment_count == 0 ? 0 : (message_length + fragment_count - 1) / fragment_count;
}

// Encoders write into `out` (which must be large enough: header + payload) and return the
// packet size. When common.flags has TMC_FLAG_CHECKSUM, the CRC32C is computed and stored.
std::size_t encode_data(std::span<std::byte> out, CommonHeader common, const DataHeader& data,
                        std::span<const std::byte> payload);
// The DATA header alone (TMC_DATA_HEADER_SIZE bytes into `out`), for a packet sent as the two
// pieces header ++ payload without copying the payload next to it: the bytes are those
// encode_data writes (checksum over header and payload included). Returns the header size.
std::size_t encode_data_header(std::span<std::byte> out, CommonHeader common, const DataHeader& data,
                               std::span<const std::byte> payload);
std::size_t encode_ack(std::span<std::byte> out, CommonHeader common, const AckFrame& ack);
std::size_t encode_control(std::span<std::byte> out, CommonHeader common, const ControlFrame& control);
// A packet of a type whose type part is encoded elsewhere (sequence, credit).
std::size_t encode_raw(std::span<std::byte> out, CommonHeader common, std::span<const std::byte> type_part,
                       std::span<const std::byte> payload);

// Rewrites flags and forward_sequence of an encoded DATA packet before a retransmission and
// refreshes its checksum.
void patch_data_packet(std::span<std::byte> packet, std::uint16_t flags, std::uint64_t forward_sequence);

// Big-endian helpers.
inline void put_u16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
inline void put_u32(std::byte* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = std::byte(v);
}
inline void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = std::byte(v);
}
inline std::uint16_t get_u16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

}  // namespace tmc::wire
