// libFuzzer target for the packet codec. Contract under test: wire::parse_packet accepts or
// rejects any datagram without crashing or reading out of bounds (ASan/UBSan), and a packet it
// accepts re-encodes (encode_data / encode_ack / encode_control / encode_raw) into bytes that
// parse to the same fields. A canonical DATA, SEQUENCE or CREDIT packet re-encodes byte for byte.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "wire/packet.h"

namespace {

using namespace tmc::wire;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "packet_fuzzer: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

bool same_common(const CommonHeader& a, const CommonHeader& b) {
  return a.type == b.type && a.flags == b.flags && a.channel_id == b.channel_id && a.sender_id == b.sender_id &&
         a.epoch == b.epoch && a.stream == b.stream;
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data), size);
  ParsedPacket parsed;
  const ParseError error = parse_packet(datagram, parsed);
  check(to_string(error) != nullptr, "to_string returned null");
  if (error != ParseError::ok) return 0;

  // Invariants of an accepted packet.
  const CommonHeader& c = parsed.common;
  check(c.header_length >= TMC_COMMON_HEADER_SIZE, "accepted header shorter than the common header");
  check(std::size_t(c.header_length) + c.payload_length == size, "accepted lengths do not add up");
  check(parsed.payload.size() == c.payload_length, "payload span length");
  check(parsed.type_part.size() == std::size_t(c.header_length) - TMC_COMMON_HEADER_SIZE, "type part span length");
  check((c.flags & ~TMC_FLAG_KNOWN_MASK) == 0, "accepted unknown flags");
  check((c.flags & TMC_FLAG_CHECKSUM) || c.checksum == 0, "accepted a checksum without the flag");

  std::vector<std::byte> out(size + TMC_MAX_HEADER_SIZE);
  std::size_t written = 0;
  switch (c.type) {
    case PacketType::data:
      check(parsed.data.fragment_count >= 1 && parsed.data.fragment_index < parsed.data.fragment_count,
            "accepted fragment geometry");
      check(parsed.data.forward_sequence <= parsed.data.sequence + 1, "accepted forward sequence");
      written = encode_data(out, c, parsed.data, parsed.payload);
      break;
    case PacketType::ack:
      check(parsed.ack.block_count <= TMC_MAX_SACK_BLOCKS, "accepted too many SACK blocks");
      written = encode_ack(out, c, parsed.ack);
      break;
    case PacketType::control:
      written = encode_control(out, c, parsed.control);
      break;
    case PacketType::sequence:
    case PacketType::credit:
      written = encode_raw(out, c, parsed.type_part, parsed.payload);
      break;
  }
  check(written <= out.size(), "encoder overran its buffer");
  const std::span<const std::byte> again(out.data(), written);

  ParsedPacket reparsed;
  if (parse_packet(again, reparsed) != ParseError::ok) fail("re-encoded packet does not parse");
  check(same_common(reparsed.common, c), "common header changed in the round trip");
  switch (c.type) {
    case PacketType::data: {
      const DataHeader &a = parsed.data, &b = reparsed.data;
      check(a.sequence == b.sequence && a.forward_sequence == b.forward_sequence &&
                a.message_length == b.message_length && a.fragment_index == b.fragment_index &&
                a.fragment_count == b.fragment_count,
            "DATA fields changed in the round trip");
      check(same_bytes(parsed.payload, reparsed.payload), "DATA payload changed in the round trip");
      if (c.header_length == TMC_DATA_HEADER_SIZE) check(same_bytes(datagram, again), "canonical DATA not byte-identical");
      break;
    }
    case PacketType::ack: {
      const AckFrame &a = parsed.ack, &b = reparsed.ack;
      check(a.acked_epoch == b.acked_epoch && a.ack_delay_us == b.ack_delay_us && a.cumulative == b.cumulative &&
                a.receiver_window == b.receiver_window && a.block_count == b.block_count,
            "ACK fields changed in the round trip");
      for (std::uint16_t i = 0; i < a.block_count; ++i) check(a.blocks[i] == b.blocks[i], "SACK block changed");
      break;
    }
    case PacketType::control:
      check(parsed.control.subtype == reparsed.control.subtype && parsed.control.argument == reparsed.control.argument,
            "CONTROL fields changed in the round trip");
      break;
    case PacketType::sequence:
    case PacketType::credit:
      check(same_bytes(datagram, again), "raw packet not byte-identical");
      break;
  }
  return 0;
}
