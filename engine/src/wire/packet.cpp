#include "wire/packet.h"

#include <cstring>

#include "wire/crc32c.h"

namespace tmc::wire {

const char* to_string(ParseError error) {
  switch (error) {
    case ParseError::ok: return "ok";
    case ParseError::too_short: return "shorter than its header";
    case ParseError::bad_magic: return "not a TMC packet (magic)";
    case ParseError::bad_version: return "unsupported version";
    case ParseError::bad_type: return "unknown packet type";
    case ParseError::bad_flags: return "unknown flag bits";
    case ParseError::bad_header_length: return "header length out of range";
    case ParseError::bad_payload_length: return "payload length does not match the datagram";
    case ParseError::bad_checksum: return "CRC32C mismatch";
    case ParseError::bad_fragment: return "inconsistent fragment fields";
    case ParseError::bad_sequence: return "forward sequence beyond the packet's sequence";
    case ParseError::bad_sack: return "SACK blocks out of order or overlapping";
    case ParseError::bad_control: return "unknown control subtype";
  }
  return "?";
}

namespace {

constexpr std::uint32_t kMaxMessageLength = TMC_MAX_MESSAGE_LENGTH;  // bounds reassembly allocations

std::uint32_t packet_checksum(std::span<const std::byte> packet) {
  // CRC over the packet with the checksum field taken as zero.
  static constexpr std::byte zeros[4]{};
  std::uint32_t crc = crc32c(packet.data(), TMC_OFF_CHECKSUM);
  crc = crc32c(zeros, 4, crc);
  return crc32c(packet.data() + TMC_OFF_CHECKSUM + 4, packet.size() - TMC_OFF_CHECKSUM - 4, crc);
}

std::size_t write_common(std::span<std::byte> out, const CommonHeader& h) {
  std::byte* p = out.data();
  put_u16(p + TMC_OFF_MAGIC, TMC_MAGIC);
  p[TMC_OFF_VERSION] = std::byte(TMC_VERSION);
  p[TMC_OFF_TYPE] = std::byte(static_cast<std::uint8_t>(h.type));
  put_u16(p + TMC_OFF_FLAGS, h.flags);
  put_u16(p + TMC_OFF_HEADER_LENGTH, h.header_length);
  put_u32(p + TMC_OFF_CHANNEL_ID, h.channel_id);
  put_u32(p + TMC_OFF_SENDER_ID, h.sender_id);
  put_u32(p + TMC_OFF_EPOCH, h.epoch);
  put_u32(p + TMC_OFF_CHECKSUM, 0);
  put_u16(p + TMC_OFF_PAYLOAD_LENGTH, h.payload_length);
  put_u16(p + TMC_OFF_STREAM, h.stream);
  return TMC_COMMON_HEADER_SIZE;
}

std::size_t finish(std::span<std::byte> out, std::size_t size, const CommonHeader& h) {
  if (h.flags & TMC_FLAG_CHECKSUM) put_u32(out.data() + TMC_OFF_CHECKSUM, packet_checksum(out.first(size)));
  return size;
}

ParseError parse_data(ParsedPacket& out) {
  const auto& c = out.common;
  if (c.header_length < TMC_DATA_HEADER_SIZE) return ParseError::bad_header_length;
  const std::byte* p = out.type_part.data() - TMC_COMMON_HEADER_SIZE;
  DataHeader& d = out.data;
  d.sequence = get_u64(p + TMC_OFF_SEQUENCE);
  d.forward_sequence = get_u64(p + TMC_OFF_FORWARD_SEQUENCE);
  d.message_length = get_u32(p + TMC_OFF_MESSAGE_LENGTH);
  d.fragment_index = get_u32(p + TMC_OFF_FRAGMENT_INDEX);
  d.fragment_count = get_u32(p + TMC_OFF_FRAGMENT_COUNT);
  if (d.message_length > kMaxMessageLength) return ParseError::bad_fragment;
  if (d.fragment_count == 0 || d.fragment_index >= d.fragment_count) return ParseError::bad_fragment;
  if (d.fragment_index > d.sequence) return ParseError::bad_fragment;  // first sequence would underflow
  if (d.sequence == UINT64_MAX || d.forward_sequence > d.sequence + 1) return ParseError::bad_sequence;
  const std::uint32_t size = fragment_size(d.message_length, d.fragment_count);
  if (d.fragment_count > 1 && (size == 0 || std::uint64_t(size) * (d.fragment_count - 1) >= d.message_length))
    return ParseError::bad_fragment;
  const std::uint64_t expected =
      d.fragment_index + 1 < d.fragment_count ? size : d.message_length - std::uint64_t(size) * (d.fragment_count - 1);
  if (c.payload_length != expected) return ParseError::bad_fragment;
  return ParseError::ok;
}

ParseError parse_ack(ParsedPacket& out) {
  const auto& c = out.common;
  if (c.header_length < TMC_ACK_HEADER_SIZE) return ParseError::bad_header_length;
  const std::byte* p = out.type_part.data() - TMC_COMMON_HEADER_SIZE;
  AckFrame& a = out.ack;
  a.acked_epoch = get_u32(p + TMC_OFF_ACK_EPOCH);
  a.ack_delay_us = get_u32(p + TMC_OFF_ACK_DELAY_US);
  a.cumulative = get_u64(p + TMC_OFF_ACK_CUMULATIVE);
  a.block_count = get_u16(p + TMC_OFF_ACK_SACK_COUNT);
  a.receiver_window = get_u32(p + TMC_OFF_ACK_RECEIVER_WINDOW);
  if (a.block_count > TMC_MAX_SACK_BLOCKS) return ParseError::bad_sack;
  if (c.header_length != TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * a.block_count) return ParseError::bad_header_length;
  std::uint64_t floor = a.cumulative;
  for (std::uint16_t i = 0; i < a.block_count; ++i) {
    const std::byte* b = p + TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * i;
    SackBlock block{get_u64(b), get_u64(b + 8)};
    // Ascending, non-overlapping, non-adjacent, strictly above the cumulative point.
    if (block.start <= floor || block.end <= block.start) return ParseError::bad_sack;
    a.blocks[i] = block;
    floor = block.end;
  }
  return ParseError::ok;
}

ParseError parse_control(ParsedPacket& out) {
  if (out.common.header_length < TMC_CONTROL_HEADER_SIZE) return ParseError::bad_header_length;
  const std::byte* p = out.type_part.data() - TMC_COMMON_HEADER_SIZE;
  out.control.subtype = std::to_integer<std::uint8_t>(p[TMC_OFF_CONTROL_SUBTYPE]);
  out.control.argument = get_u32(p + TMC_OFF_CONTROL_ARGUMENT);
  if (out.control.subtype < TMC_CONTROL_OPEN || out.control.subtype > TMC_CONTROL_PONG) return ParseError::bad_control;
  return ParseError::ok;
}

}  // namespace

ParseError parse_packet(std::span<const std::byte> datagram, ParsedPacket& out) {
  if (datagram.size() < TMC_COMMON_HEADER_SIZE) return ParseError::too_short;
  const std::byte* p = datagram.data();
  if (get_u16(p + TMC_OFF_MAGIC) != TMC_MAGIC) return ParseError::bad_magic;
  if (std::to_integer<unsigned>(p[TMC_OFF_VERSION]) != TMC_VERSION) return ParseError::bad_version;
  const unsigned type = std::to_integer<unsigned>(p[TMC_OFF_TYPE]);
  if (type < TMC_TYPE_DATA || type > TMC_TYPE_MAX) return ParseError::bad_type;
  CommonHeader& c = out.common;
  c.type = static_cast<PacketType>(type);
  c.flags = get_u16(p + TMC_OFF_FLAGS);
  if (c.flags & ~TMC_FLAG_KNOWN_MASK) return ParseError::bad_flags;
  c.header_length = get_u16(p + TMC_OFF_HEADER_LENGTH);
  if (c.header_length < TMC_COMMON_HEADER_SIZE || c.header_length > datagram.size()) return ParseError::bad_header_length;
  c.channel_id = get_u32(p + TMC_OFF_CHANNEL_ID);
  c.sender_id = get_u32(p + TMC_OFF_SENDER_ID);
  c.epoch = get_u32(p + TMC_OFF_EPOCH);
  c.checksum = get_u32(p + TMC_OFF_CHECKSUM);
  c.payload_length = get_u16(p + TMC_OFF_PAYLOAD_LENGTH);
  c.stream = get_u16(p + TMC_OFF_STREAM);
  if (std::size_t(c.header_length) + c.payload_length != datagram.size()) return ParseError::bad_payload_length;
  if (c.flags & TMC_FLAG_CHECKSUM) {
    if (packet_checksum(datagram) != c.checksum) return ParseError::bad_checksum;
  } else if (c.checksum != 0) {
    return ParseError::bad_checksum;
  }
  out.type_part = datagram.subspan(TMC_COMMON_HEADER_SIZE, c.header_length - TMC_COMMON_HEADER_SIZE);
  out.payload = datagram.subspan(c.header_length);
  switch (c.type) {
    case PacketType::data: return parse_data(out);
    case PacketType::ack: return parse_ack(out);
    case PacketType::control: return parse_control(out);
    case PacketType::sequence:
    case PacketType::credit: return ParseError::ok;  // type part decoded by its primitive
  }
  return ParseError::bad_type;
}

std::size_t encode_data_header(std::span<std::byte> out, CommonHeader common, const DataHeader& data,
                               std::span<const std::byte> payload) {
  common.type = PacketType::data;
  common.header_length = TMC_DATA_HEADER_SIZE;
  common.payload_length = static_cast<std::uint16_t>(payload.size());
  write_common(out, common);
  std::byte* p = out.data();
  put_u64(p + TMC_OFF_SEQUENCE, data.sequence);
  put_u64(p + TMC_OFF_FORWARD_SEQUENCE, data.forward_sequence);
  put_u32(p + TMC_OFF_MESSAGE_LENGTH, data.message_length);
  put_u32(p + TMC_OFF_FRAGMENT_INDEX, data.fragment_index);
  put_u32(p + TMC_OFF_FRAGMENT_COUNT, data.fragment_count);
  if (common.flags & TMC_FLAG_CHECKSUM) {
    // packet_checksum over the two pieces: the header (checksum field still zero), then the payload.
    const std::uint32_t crc = crc32c(p, TMC_DATA_HEADER_SIZE);
    put_u32(p + TMC_OFF_CHECKSUM, crc32c(payload.data(), payload.size(), crc));
  }
  return TMC_DATA_HEADER_SIZE;
}

std::size_t encode_data(std::span<std::byte> out, CommonHeader common, const DataHeader& data,
                        std::span<const std::byte> payload) {
  encode_data_header(out, common, data, payload);
  if (!payload.empty()) std::memcpy(out.data() + TMC_DATA_HEADER_SIZE, payload.data(), payload.size());
  return TMC_DATA_HEADER_SIZE + payload.size();
}

std::size_t encode_ack(std::span<std::byte> out, CommonHeader common, const AckFrame& ack) {
  common.type = PacketType::ack;
  common.header_length = static_cast<std::uint16_t>(TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * ack.block_count);
  common.payload_length = 0;
  write_common(out, common);
  std::byte* p = out.data();
  put_u32(p + TMC_OFF_ACK_EPOCH, ack.acked_epoch);
  put_u32(p + TMC_OFF_ACK_DELAY_US, ack.ack_delay_us);
  put_u64(p + TMC_OFF_ACK_CUMULATIVE, ack.cumulative);
  put_u16(p + TMC_OFF_ACK_SACK_COUNT, ack.block_count);
  put_u16(p + TMC_OFF_ACK_RESERVED, 0);
  put_u32(p + TMC_OFF_ACK_RECEIVER_WINDOW, ack.receiver_window);
  for (std::uint16_t i = 0; i < ack.block_count; ++i) {
    std::byte* b = p + TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * i;
    put_u64(b, ack.blocks[i].start);
    put_u64(b + 8, ack.blocks[i].end);
  }
  return finish(out, common.header_length, common);
}

std::size_t encode_control(std::span<std::byte> out, CommonHeader common, const ControlFrame& control) {
  common.type = PacketType::control;
  common.header_length = TMC_CONTROL_HEADER_SIZE;
  common.payload_length = 0;
  write_common(out, common);
  std::byte* p = out.data();
  p[TMC_OFF_CONTROL_SUBTYPE] = std::byte(control.subtype);
  p[TMC_OFF_CONTROL_SUBTYPE + 1] = std::byte(0);
  put_u16(p + TMC_OFF_CONTROL_SUBTYPE + 2, 0);
  put_u32(p + TMC_OFF_CONTROL_ARGUMENT, control.argument);
  return finish(out, TMC_CONTROL_HEADER_SIZE, common);
}

std::size_t encode_raw(std::span<std::byte> out, CommonHeader common, std::span<const std::byte> type_part,
                       std::span<const std::byte> payload) {
  common.header_length = static_cast<std::uint16_t>(TMC_COMMON_HEADER_SIZE + type_part.size());
  common.payload_length = static_cast<std::uint16_t>(payload.size());
  write_common(out, common);
  std::byte* p = out.data() + TMC_COMMON_HEADER_SIZE;
  if (!type_part.empty()) std::memcpy(p, type_part.data(), type_part.size());
  if (!payload.empty()) std::memcpy(p + type_part.size(), payload.data(), payload.size());
  return finish(out, common.header_length + payload.size(), common);
}

void patch_data_packet(std::span<std::byte> packet, std::uint16_t flags, std::uint64_t forward_sequence) {
  put_u16(packet.data() + TMC_OFF_FLAGS, flags);
  put_u64(packet.data() + TMC_OFF_FORWARD_SEQUENCE, forward_sequence);
  put_u32(packet.data() + TMC_OFF_CHECKSUM, 0);
  if (flags & TMC_FLAG_CHECKSUM) put_u32(packet.data() + TMC_OFF_CHECKSUM, packet_checksum(packet));
}

}  // namespace tmc::wire
