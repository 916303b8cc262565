// wire/packet: encode/parse round trips of every packet type, checksum handling, and one crafted
// packet per ParseError value (a malformed packet is always rejected with its reason, never
// accepted and never a crash).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tmc/wire_format.h"
#include "wire/crc32c.h"
#include "wire/packet.h"

namespace tmc::wire {
namespace {

using Bytes = std::vector<std::byte>;

Bytes pattern(std::size_t size, unsigned seed = 1) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = std::byte((i * 7 + seed * 13) & 0xFF);
  return bytes;
}

CommonHeader common(std::uint16_t flags = 0) {
  CommonHeader c;
  c.flags = flags;
  c.channel_id = 0xC0FFEE01u;
  c.sender_id = 0x5E4D0002u;
  c.epoch = 77;
  c.stream = 3;
  return c;
}

Bytes encode_data_packet(const CommonHeader& c, const DataHeader& d, const Bytes& payload) {
  Bytes out(TMC_DATA_HEADER_SIZE + payload.size());
  out.resize(encode_data(out, c, d, payload));
  return out;
}
Bytes encode_ack_packet(const CommonHeader& c, const AckFrame& a) {
  Bytes out(TMC_MAX_HEADER_SIZE);
  out.resize(encode_ack(out, c, a));
  return out;
}
Bytes encode_control_packet(const CommonHeader& c, const ControlFrame& f) {
  Bytes out(TMC_CONTROL_HEADER_SIZE);
  out.resize(encode_control(out, c, f));
  return out;
}

// Independent checksum: CRC32C of a copy with the checksum field zeroed.
std::uint32_t expected_checksum(const Bytes& packet) {
  Bytes copy = packet;
  put_u32(copy.data() + TMC_OFF_CHECKSUM, 0);
  return crc32c(copy.data(), copy.size());
}
// After hand-editing a checksummed packet: store a correct checksum again.
void refresh_checksum(Bytes& packet) {
  put_u32(packet.data() + TMC_OFF_CHECKSUM, 0);
  put_u32(packet.data() + TMC_OFF_CHECKSUM, expected_checksum(packet));
}

ParseError parse(const Bytes& bytes, ParsedPacket& out) { return parse_packet(bytes, out); }
ParseError parse(const Bytes& bytes) {
  ParsedPacket out;
  return parse_packet(bytes, out);
}

DataHeader data_header(std::uint64_t sequence, std::uint32_t message_length, std::uint32_t index = 0,
                       std::uint32_t count = 1, std::uint64_t forward = 0) {
  DataHeader d;
  d.sequence = sequence;
  d.forward_sequence = forward;
  d.message_length = message_length;
  d.fragment_index = index;
  d.fragment_count = count;
  return d;
}

AckFrame ack_with_blocks(std::uint64_t cumulative, int blocks) {
  AckFrame a;
  a.acked_epoch = 76;
  a.ack_delay_us = 1234;
  a.cumulative = cumulative;
  a.receiver_window = 4096;
  a.block_count = static_cast<std::uint16_t>(blocks);
  for (int i = 0; i < blocks; ++i) a.blocks[i] = {cumulative + 1 + 5 * i, cumulative + 3 + 5 * i};
  return a;
}

void expect_common_equal(const CommonHeader& parsed, const CommonHeader& sent) {
  EXPECT_EQ(parsed.flags, sent.flags);
  EXPECT_EQ(parsed.channel_id, sent.channel_id);
  EXPECT_EQ(parsed.sender_id, sent.sender_id);
  EXPECT_EQ(parsed.epoch, sent.epoch);
  EXPECT_EQ(parsed.stream, sent.stream);
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(Packet, DataRoundTripWithAndWithoutChecksum) {
  for (std::uint16_t flags : {std::uint16_t(0), std::uint16_t(TMC_FLAG_CHECKSUM | TMC_FLAG_ACK_REQUESTED | TMC_FLAG_ORDERED),
                              std::uint16_t(TMC_FLAG_KNOWN_MASK)}) {
    const auto c = common(flags);
    const Bytes payload = pattern(100);
    const auto d = data_header(1000, 100, 0, 1, 990);
    const Bytes packet = encode_data_packet(c, d, payload);
    ASSERT_EQ(packet.size(), TMC_DATA_HEADER_SIZE + 100u);
    EXPECT_EQ(get_u16(packet.data() + TMC_OFF_MAGIC), TMC_MAGIC);
    EXPECT_EQ(std::to_integer<unsigned>(packet[TMC_OFF_VERSION]), TMC_VERSION);
    ParsedPacket p;
    ASSERT_EQ(parse(packet, p), ParseError::ok) << "flags " << flags;
    EXPECT_EQ(p.common.type, PacketType::data);
    expect_common_equal(p.common, c);
    EXPECT_EQ(p.common.header_length, TMC_DATA_HEADER_SIZE);
    EXPECT_EQ(p.common.payload_length, 100);
    EXPECT_EQ(p.data.sequence, 1000u);
    EXPECT_EQ(p.data.forward_sequence, 990u);
    EXPECT_EQ(p.data.message_length, 100u);
    EXPECT_EQ(p.data.fragment_index, 0u);
    EXPECT_EQ(p.data.fragment_count, 1u);
    EXPECT_EQ(p.type_part.size(), TMC_DATA_HEADER_SIZE - TMC_COMMON_HEADER_SIZE);
    ASSERT_EQ(p.payload.size(), payload.size());
    EXPECT_EQ(std::memcmp(p.payload.data(), payload.data(), payload.size()), 0);
    EXPECT_EQ(p.payload.data(), packet.data() + TMC_DATA_HEADER_SIZE);  // spans point into the datagram
    if (flags & TMC_FLAG_CHECKSUM) {
      EXPECT_EQ(p.common.checksum, expected_checksum(packet));
    } else {
      EXPECT_EQ(p.common.checksum, 0u);
    }
  }
}

TEST(Packet, EmptyDataMessageRoundTrips) {
  const Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(5, 0), {});
  ParsedPacket p;
  ASSERT_EQ(parse(packet, p), ParseError::ok);
  EXPECT_EQ(p.payload.size(), 0u);
  EXPECT_EQ(p.data.message_length, 0u);
}

TEST(Packet, FragmentGeometry) {
  EXPECT_EQ(fragment_size(1000, 3), 334u);
  EXPECT_EQ(fragment_size(999, 3), 333u);
  EXPECT_EQ(fragment_size(1, 1), 1u);
  EXPECT_EQ(fragment_size(0, 1), 0u);
  EXPECT_EQ(fragment_size(10, 0), 0u);
  // IPv4 20 + UDP 8 + DATA header 56.
  EXPECT_EQ(max_data_payload(1500), 1500u - 84u);
  EXPECT_EQ(max_data_payload(576), 576u - 84u);
}

TEST(Packet, FragmentedMessageRoundTripsEveryFragment) {
  // 1000 bytes in 3 fragments: 334 + 334 + 332, sequences 40..42.
  const Bytes message = pattern(1000, 4);
  const std::uint32_t count = 3, size = fragment_size(1000, count);
  Bytes reassembled(1000);
  for (std::uint32_t index = 0; index < count; ++index) {
    const std::size_t offset = std::size_t(size) * index;
    const std::size_t length = index + 1 < count ? size : message.size() - offset;
    const Bytes piece(message.begin() + offset, message.begin() + offset + length);
    const Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(40 + index, 1000, index, count, 40), piece);
    ParsedPacket p;
    ASSERT_EQ(parse(packet, p), ParseError::ok) << "fragment " << index;
    EXPECT_EQ(p.data.fragment_index, index);
    EXPECT_EQ(p.data.fragment_count, count);
    EXPECT_EQ(p.data.first_sequence(), 40u);
    EXPECT_EQ(p.payload.size(), index + 1 < count ? 334u : 332u);
    std::memcpy(reassembled.data() + offset, p.payload.data(), p.payload.size());
  }
  EXPECT_EQ(reassembled, message);
}

TEST(Packet, DataForwardSequenceMayBeOnePastTheSequence) {
  ParsedPacket p;
  ASSERT_EQ(parse(encode_data_packet(common(), data_header(10, 4, 0, 1, 11), pattern(4)), p), ParseError::ok);
  EXPECT_EQ(p.data.forward_sequence, 11u);
}

TEST(Packet, DataHeaderOptionsAreSkipped) {
  // header_length > 56: the parser must take the payload from header_length on.
  const Bytes payload = pattern(8);
  Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(1, 8), payload);
  packet.insert(packet.begin() + TMC_DATA_HEADER_SIZE, 4, std::byte{0xAB});
  put_u16(packet.data() + TMC_OFF_HEADER_LENGTH, TMC_DATA_HEADER_SIZE + 4);
  refresh_checksum(packet);
  ParsedPacket p;
  ASSERT_EQ(parse(packet, p), ParseError::ok);
  EXPECT_EQ(p.type_part.size(), TMC_DATA_HEADER_SIZE + 4u - TMC_COMMON_HEADER_SIZE);
  ASSERT_EQ(p.payload.size(), 8u);
  EXPECT_EQ(std::memcmp(p.payload.data(), payload.data(), 8), 0);
}

TEST(Packet, AckRoundTripWithZeroToThirtyTwoSackBlocks) {
  for (int blocks = 0; blocks <= TMC_MAX_SACK_BLOCKS; ++blocks) {
    const auto c = common(blocks % 2 ? TMC_FLAG_CHECKSUM : 0);
    const AckFrame a = ack_with_blocks(500, blocks);
    const Bytes packet = encode_ack_packet(c, a);
    ASSERT_EQ(packet.size(), std::size_t(TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * blocks));
    ParsedPacket p;
    ASSERT_EQ(parse(packet, p), ParseError::ok) << blocks << " blocks";
    EXPECT_EQ(p.common.type, PacketType::ack);
    expect_common_equal(p.common, c);
    EXPECT_EQ(p.common.payload_length, 0);
    EXPECT_EQ(p.ack.acked_epoch, 76u);
    EXPECT_EQ(p.ack.ack_delay_us, 1234u);
    EXPECT_EQ(p.ack.cumulative, 500u);
    EXPECT_EQ(p.ack.receiver_window, 4096u);
    ASSERT_EQ(p.ack.block_count, blocks);
    ASSERT_EQ(p.ack.sacks().size(), std::size_t(blocks));
    for (int i = 0; i < blocks; ++i) EXPECT_EQ(p.ack.sacks()[i], a.blocks[i]) << "block " << i;
    EXPECT_EQ(get_u16(packet.data() + TMC_OFF_ACK_RESERVED), 0);
  }
}

TEST(Packet, ControlRoundTripEverySubtype) {
  for (unsigned subtype = TMC_CONTROL_OPEN; subtype <= TMC_CONTROL_PONG; ++subtype) {
    const auto c = common(TMC_FLAG_CHECKSUM);
    const Bytes packet = encode_control_packet(c, {static_cast<std::uint8_t>(subtype), 0xDEADBEEFu});
    ASSERT_EQ(packet.size(), std::size_t(TMC_CONTROL_HEADER_SIZE));
    ParsedPacket p;
    ASSERT_EQ(parse(packet, p), ParseError::ok) << "subtype " << subtype;
    EXPECT_EQ(p.common.type, PacketType::control);
    expect_common_equal(p.common, c);
    EXPECT_EQ(p.control.subtype, subtype);
    EXPECT_EQ(p.control.argument, 0xDEADBEEFu);
  }
}

TEST(Packet, RawSequenceAndCreditPacketsCarryTheirTypePart) {
  const Bytes type_part = pattern(12, 2), payload = pattern(5, 3);
  for (PacketType type : {PacketType::sequence, PacketType::credit}) {
    auto c = common(TMC_FLAG_CHECKSUM);
    c.type = type;
    Bytes packet(TMC_COMMON_HEADER_SIZE + type_part.size() + payload.size());
    ASSERT_EQ(encode_raw(packet, c, type_part, payload), packet.size());
    ParsedPacket p;
    ASSERT_EQ(parse(packet, p), ParseError::ok);
    EXPECT_EQ(p.common.type, type);
    ASSERT_EQ(p.type_part.size(), type_part.size());
    EXPECT_EQ(std::memcmp(p.type_part.data(), type_part.data(), type_part.size()), 0);
    ASSERT_EQ(p.payload.size(), payload.size());
    EXPECT_EQ(std::memcmp(p.payload.data(), payload.data(), payload.size()), 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Checksum

TEST(Packet, ChecksumIsCrc32cOfThePacketWithTheFieldZeroed) {
  const Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(9, 64), pattern(64));
  EXPECT_EQ(get_u32(packet.data() + TMC_OFF_CHECKSUM), expected_checksum(packet));
  EXPECT_NE(get_u32(packet.data() + TMC_OFF_CHECKSUM), 0u);
}

// The two-piece encoding (header written apart from the payload it precedes, as unreliable
// sends leave: header ++ the application's bytes) puts exactly encode_data's bytes on the wire,
// checksum included, for empty, small and 16 KiB payloads.
TEST(Packet, DataHeaderAloneIsEncodeDataWithoutThePayloadCopy) {
  for (const std::uint16_t flags : {std::uint16_t{0}, std::uint16_t{TMC_FLAG_CHECKSUM}})
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{64}, std::size_t{16384}}) {
      const Bytes payload = pattern(size, 3);
      const DataHeader d = data_header(42, static_cast<std::uint32_t>(size));
      Bytes header(TMC_DATA_HEADER_SIZE + 8, std::byte{0xAA});  // larger: nothing past the header is written
      ASSERT_EQ(encode_data_header(header, common(flags), d, payload), std::size_t{TMC_DATA_HEADER_SIZE});
      for (std::size_t i = TMC_DATA_HEADER_SIZE; i < header.size(); ++i) ASSERT_EQ(header[i], std::byte{0xAA});
      Bytes two_pieces(header.begin(), header.begin() + TMC_DATA_HEADER_SIZE);
      two_pieces.insert(two_pieces.end(), payload.begin(), payload.end());
      EXPECT_EQ(two_pieces, encode_data_packet(common(flags), d, payload)) << "flags " << flags << " size " << size;
      EXPECT_EQ(parse(two_pieces), ParseError::ok);
      if (flags) EXPECT_EQ(get_u32(two_pieces.data() + TMC_OFF_CHECKSUM), expected_checksum(two_pieces));
    }
}

TEST(Packet, WithoutTheFlagTheChecksumFieldIsZero) {
  const Bytes packet = encode_data_packet(common(0), data_header(9, 64), pattern(64));
  EXPECT_EQ(get_u32(packet.data() + TMC_OFF_CHECKSUM), 0u);
}

TEST(Packet, EverySingleBitFlipOfAChecksummedPacketIsRejected) {
  for (const Bytes& original :
       {encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(9, 40), pattern(40)),
        encode_ack_packet(common(TMC_FLAG_CHECKSUM), ack_with_blocks(3, 2)),
        encode_control_packet(common(TMC_FLAG_CHECKSUM), {TMC_CONTROL_PING, 7})}) {
    ASSERT_EQ(parse(original), ParseError::ok);
    Bytes packet = original;
    for (std::size_t bit = 0; bit < packet.size() * 8; ++bit) {
      packet[bit / 8] ^= std::byte(1u << (bit % 8));
      EXPECT_NE(parse(packet), ParseError::ok) << "bit " << bit << " of a " << original.size() << "-byte packet";
      packet[bit / 8] ^= std::byte(1u << (bit % 8));
    }
  }
}

TEST(Packet, PayloadCorruptionOfAChecksummedPacketIsBadChecksum) {
  Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(9, 40), pattern(40));
  packet.back() ^= std::byte{0x01};
  EXPECT_EQ(parse(packet), ParseError::bad_checksum);
}

TEST(Packet, PatchDataPacketRewritesFlagsForwardAndChecksum) {
  const std::uint16_t flags = TMC_FLAG_CHECKSUM | TMC_FLAG_ACK_REQUESTED;
  Bytes packet = encode_data_packet(common(flags), data_header(100, 32), pattern(32));
  const std::uint32_t before = get_u32(packet.data() + TMC_OFF_CHECKSUM);
  patch_data_packet(packet, flags | TMC_FLAG_RETRANSMIT, 95);
  ParsedPacket p;
  ASSERT_EQ(parse(packet, p), ParseError::ok);
  EXPECT_EQ(p.common.flags, flags | TMC_FLAG_RETRANSMIT);
  EXPECT_EQ(p.data.forward_sequence, 95u);
  EXPECT_EQ(p.data.sequence, 100u);
  EXPECT_EQ(p.common.checksum, expected_checksum(packet));
  EXPECT_NE(p.common.checksum, before);
}

TEST(Packet, PatchDataPacketCanDropTheChecksumFlag) {
  Bytes packet = encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(100, 32), pattern(32));
  patch_data_packet(packet, TMC_FLAG_RETRANSMIT, 100);
  ParsedPacket p;
  ASSERT_EQ(parse(packet, p), ParseError::ok);
  EXPECT_EQ(p.common.checksum, 0u);
  EXPECT_EQ(p.common.flags, TMC_FLAG_RETRANSMIT);
}

TEST(Packet, PatchDataPacketCanAddTheChecksumFlag) {
  Bytes packet = encode_data_packet(common(0), data_header(100, 32), pattern(32));
  patch_data_packet(packet, TMC_FLAG_CHECKSUM, 101);
  ParsedPacket p;
  ASSERT_EQ(parse(packet, p), ParseError::ok);
  EXPECT_EQ(p.common.checksum, expected_checksum(packet));
  EXPECT_EQ(p.data.forward_sequence, 101u);
}

// ---------------------------------------------------------------------------------------------
// Malformed packets: one crafted case (or more) per ParseError value.

struct Crafted {
  std::string name;
  Bytes bytes;
  ParseError expected;
};

// Valid packets without a checksum (so a hand edit does not first trip the CRC) ...
Bytes valid_data() { return encode_data_packet(common(), data_header(50, 16, 0, 1, 40), pattern(16)); }
Bytes valid_ack(int blocks = 2) { return encode_ack_packet(common(), ack_with_blocks(20, blocks)); }
Bytes valid_control() { return encode_control_packet(common(), {TMC_CONTROL_OPEN, 1}); }

Bytes with_u16(Bytes b, std::size_t offset, std::uint16_t v) { return put_u16(b.data() + offset, v), b; }
Bytes with_u32(Bytes b, std::size_t offset, std::uint32_t v) { return put_u32(b.data() + offset, v), b; }
Bytes with_u64(Bytes b, std::size_t offset, std::uint64_t v) { return put_u64(b.data() + offset, v), b; }
Bytes with_byte(Bytes b, std::size_t offset, unsigned v) { return b[offset] = std::byte(v), b; }
Bytes checksummed(Bytes b) {  // ... and the same edits re-checksummed: the reason must survive a valid CRC
  put_u16(b.data() + TMC_OFF_FLAGS, get_u16(b.data() + TMC_OFF_FLAGS) | TMC_FLAG_CHECKSUM);
  refresh_checksum(b);
  return b;
}
Bytes sack_block(Bytes b, int index, std::uint64_t start, std::uint64_t end) {
  const std::size_t offset = TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * index;
  return with_u64(with_u64(std::move(b), offset, start), offset + 8, end);
}
// DATA with the given geometry and a payload of `payload_size` bytes.
Bytes data_with(std::uint64_t sequence, std::uint32_t message_length, std::uint32_t index, std::uint32_t count,
                std::size_t payload_size, std::uint64_t forward = 0) {
  return encode_data_packet(common(), data_header(sequence, message_length, index, count, forward), pattern(payload_size));
}
// ACK with `count` blocks whose SACK count field says `claimed`.
Bytes ack_claiming(int count, int claimed) { return with_u16(valid_ack(count), TMC_OFF_ACK_SACK_COUNT, claimed); }

std::vector<Crafted> crafted_packets() {
  std::vector<Crafted> cases = {
      {"empty datagram", {}, ParseError::too_short},
      {"27 bytes", [] { auto b = valid_data(); b.resize(TMC_COMMON_HEADER_SIZE - 1); return b; }(), ParseError::too_short},
      {"magic byte 0", with_byte(valid_data(), 0, 0x00), ParseError::bad_magic},
      {"magic byte swapped", with_u16(valid_data(), TMC_OFF_MAGIC, 0x4D54), ParseError::bad_magic},
      {"version 0", with_byte(valid_data(), TMC_OFF_VERSION, 0), ParseError::bad_version},
      {"version 2", with_byte(valid_data(), TMC_OFF_VERSION, 2), ParseError::bad_version},
      {"type 0", with_byte(valid_data(), TMC_OFF_TYPE, 0), ParseError::bad_type},
      {"type 6", with_byte(valid_data(), TMC_OFF_TYPE, TMC_TYPE_MAX + 1), ParseError::bad_type},
      {"type 255", with_byte(valid_data(), TMC_OFF_TYPE, 255), ParseError::bad_type},
      {"flag 0x0040", with_u16(valid_data(), TMC_OFF_FLAGS, 0x0040), ParseError::bad_flags},
      {"flag 0x8000 with checksum", with_u16(checksummed(valid_data()), TMC_OFF_FLAGS, 0x8001), ParseError::bad_flags},
      {"header length 27", with_u16(valid_data(), TMC_OFF_HEADER_LENGTH, TMC_COMMON_HEADER_SIZE - 1),
       ParseError::bad_header_length},
      {"header length 0", with_u16(valid_control(), TMC_OFF_HEADER_LENGTH, 0), ParseError::bad_header_length},
      {"header length beyond datagram", with_u16(valid_control(), TMC_OFF_HEADER_LENGTH, TMC_CONTROL_HEADER_SIZE + 1),
       ParseError::bad_header_length},
      // DATA header too short for the DATA type part (lengths kept consistent: 40 + 32 = 72).
      {"DATA header length 40",
       with_u16(with_u16(valid_data(), TMC_OFF_HEADER_LENGTH, 40), TMC_OFF_PAYLOAD_LENGTH, 72 - 40),
       ParseError::bad_header_length},
      {"ACK header length 44", with_u16(with_u16(valid_ack(0), TMC_OFF_HEADER_LENGTH, 44), TMC_OFF_PAYLOAD_LENGTH, 8),
       ParseError::bad_header_length},
      // ACK whose header length does not match 52 + 16 * count (one block's bytes moved to payload).
      {"ACK header length vs SACK count",
       with_u16(with_u16(valid_ack(1), TMC_OFF_HEADER_LENGTH, TMC_ACK_HEADER_SIZE), TMC_OFF_PAYLOAD_LENGTH,
                TMC_SACK_BLOCK_SIZE),
       ParseError::bad_header_length},
      {"ACK claims 1 block, carries 2", ack_claiming(2, 1), ParseError::bad_header_length},
      {"CONTROL header length 32",
       with_u16(with_u16(valid_control(), TMC_OFF_HEADER_LENGTH, 32), TMC_OFF_PAYLOAD_LENGTH, 4),
       ParseError::bad_header_length},
      {"payload length one short", with_u16(valid_data(), TMC_OFF_PAYLOAD_LENGTH, 15), ParseError::bad_payload_length},
      {"payload length one long", with_u16(valid_data(), TMC_OFF_PAYLOAD_LENGTH, 17), ParseError::bad_payload_length},
      {"trailing byte", [] { auto b = valid_control(); b.push_back(std::byte{0}); return b; }(),
       ParseError::bad_payload_length},
      {"payload flipped under checksum", with_byte(checksummed(valid_data()), TMC_DATA_HEADER_SIZE + 3, 0xEE),
       ParseError::bad_checksum},
      {"checksum field off by one",
       [] { auto b = checksummed(valid_ack()); return with_u32(b, TMC_OFF_CHECKSUM, get_u32(b.data() + TMC_OFF_CHECKSUM) + 1); }(),
       ParseError::bad_checksum},
      {"checksum zeroed with flag", with_u32(checksummed(valid_control()), TMC_OFF_CHECKSUM, 0), ParseError::bad_checksum},
      {"non-zero checksum without the flag", with_u32(valid_data(), TMC_OFF_CHECKSUM, 0x12345678u),
       ParseError::bad_checksum},
      {"valid checksum but flag cleared",
       with_u16(checksummed(valid_data()), TMC_OFF_FLAGS, 0), ParseError::bad_checksum},
      {"fragment count 0", with_u32(valid_data(), TMC_OFF_FRAGMENT_COUNT, 0), ParseError::bad_fragment},
      {"fragment index == count", data_with(50, 30, 2, 2, 15), ParseError::bad_fragment},
      {"fragment index > sequence", data_with(1, 30, 2, 3, 10), ParseError::bad_fragment},
      {"message length > TMC_MAX_MESSAGE_LENGTH", with_u32(valid_data(), TMC_OFF_MESSAGE_LENGTH, TMC_MAX_MESSAGE_LENGTH + 1), ParseError::bad_fragment},
      {"single fragment payload != message length", data_with(50, 17, 0, 1, 16), ParseError::bad_fragment},
      {"middle fragment wrong size", data_with(50, 1000, 1, 3, 333), ParseError::bad_fragment},
      {"last fragment wrong size", data_with(52, 1000, 2, 3, 334), ParseError::bad_fragment},
      // 4 bytes in 3 fragments: fragment size 2, so the third fragment would be empty.
      {"more fragments than bytes", data_with(52, 4, 2, 3, 0), ParseError::bad_fragment},
      {"fragmented empty message", data_with(52, 0, 0, 2, 0), ParseError::bad_fragment},
      {"forward > sequence + 1", data_with(50, 16, 0, 1, 16, 52), ParseError::bad_sequence},
      {"forward far beyond", data_with(50, 16, 0, 1, 16, UINT64_MAX), ParseError::bad_sequence},
      {"sequence UINT64_MAX", with_u64(valid_data(), TMC_OFF_SEQUENCE, UINT64_MAX), ParseError::bad_sequence},
      {"SACK 33 blocks", ack_claiming(TMC_MAX_SACK_BLOCKS, TMC_MAX_SACK_BLOCKS + 1), ParseError::bad_sack},
      {"SACK 65535 blocks", ack_claiming(TMC_MAX_SACK_BLOCKS, 0xFFFF), ParseError::bad_sack},
      {"SACK out of order", sack_block(sack_block(valid_ack(2), 0, 30, 32), 1, 25, 27), ParseError::bad_sack},
      {"SACK overlapping", sack_block(sack_block(valid_ack(2), 0, 25, 30), 1, 29, 35), ParseError::bad_sack},
      {"SACK adjacent", sack_block(sack_block(valid_ack(2), 0, 25, 30), 1, 30, 35), ParseError::bad_sack},
      {"SACK at cumulative", sack_block(valid_ack(1), 0, 20, 22), ParseError::bad_sack},
      {"SACK below cumulative", sack_block(valid_ack(1), 0, 5, 10), ParseError::bad_sack},
      {"SACK empty block", sack_block(valid_ack(1), 0, 25, 25), ParseError::bad_sack},
      {"SACK reversed block", sack_block(valid_ack(1), 0, 27, 25), ParseError::bad_sack},
      {"control subtype 0", with_byte(valid_control(), TMC_OFF_CONTROL_SUBTYPE, 0), ParseError::bad_control},
      {"control subtype 8", with_byte(valid_control(), TMC_OFF_CONTROL_SUBTYPE, TMC_CONTROL_PONG + 1),
       ParseError::bad_control},
      {"control subtype 255", with_byte(valid_control(), TMC_OFF_CONTROL_SUBTYPE, 255), ParseError::bad_control},
  };
  // The structural reasons must also be reported when the packet carries a correct checksum.
  const std::size_t plain = cases.size();
  for (std::size_t i = 0; i < plain; ++i) {
    const auto& c = cases[i];
    if (c.bytes.size() < TMC_COMMON_HEADER_SIZE) continue;
    if (c.expected == ParseError::bad_checksum || c.expected == ParseError::bad_payload_length ||
        c.expected == ParseError::bad_flags || c.expected == ParseError::bad_magic ||
        c.expected == ParseError::bad_version || c.expected == ParseError::bad_type)
      continue;
    if (c.expected == ParseError::bad_header_length &&
        get_u16(c.bytes.data() + TMC_OFF_HEADER_LENGTH) > c.bytes.size())
      continue;
    if (c.expected == ParseError::bad_header_length && get_u16(c.bytes.data() + TMC_OFF_HEADER_LENGTH) < TMC_COMMON_HEADER_SIZE)
      continue;
    cases.push_back({c.name + " (checksummed)", checksummed(c.bytes), c.expected});
  }
  return cases;
}

TEST(Packet, EveryCraftedMalformedPacketIsRejectedWithItsReason) {
  for (const auto& c : crafted_packets()) {
    ParsedPacket p;
    EXPECT_EQ(parse(c.bytes, p), c.expected)
        << c.name << ": got '" << to_string(parse(c.bytes, p)) << "', expected '" << to_string(c.expected) << "'";
  }
}

TEST(Packet, EveryParseErrorValueIsProducedByACraftedPacket) {
  std::set<ParseError> produced;
  for (const auto& c : crafted_packets()) {
    const ParseError e = parse(c.bytes);
    if (e == c.expected) produced.insert(e);
  }
  for (ParseError e : {ParseError::too_short, ParseError::bad_magic, ParseError::bad_version, ParseError::bad_type,
                       ParseError::bad_flags, ParseError::bad_header_length, ParseError::bad_payload_length,
                       ParseError::bad_checksum, ParseError::bad_fragment, ParseError::bad_sequence,
                       ParseError::bad_sack, ParseError::bad_control}) {
    EXPECT_TRUE(produced.count(e)) << "no crafted packet produced " << to_string(e);
  }
}

TEST(Packet, EveryParseErrorHasADistinctDescription) {
  std::set<std::string> texts;
  for (int e = int(ParseError::ok); e <= int(ParseError::bad_control); ++e) {
    const std::string text = to_string(static_cast<ParseError>(e));
    EXPECT_NE(text, "?") << "ParseError " << e;
    texts.insert(text);
  }
  EXPECT_EQ(texts.size(), std::size_t(ParseError::bad_control) + 1);
}

TEST(Packet, TruncationAtEveryLengthNeverParses) {
  for (const Bytes& packet :
       {encode_data_packet(common(), data_header(9, 40), pattern(40)),
        encode_data_packet(common(TMC_FLAG_CHECKSUM), data_header(9, 40), pattern(40)),
        encode_ack_packet(common(), ack_with_blocks(3, TMC_MAX_SACK_BLOCKS)),
        encode_ack_packet(common(TMC_FLAG_CHECKSUM), ack_with_blocks(3, 3)),
        encode_control_packet(common(), {TMC_CONTROL_CLOSE, 0}),
        encode_control_packet(common(TMC_FLAG_CHECKSUM), {TMC_CONTROL_RESET, 9})}) {
    ASSERT_EQ(parse(packet), ParseError::ok);
    for (std::size_t length = 0; length < packet.size(); ++length) {
      // A fresh heap copy of exactly `length` bytes so ASan would see any read past the end.
      const Bytes truncated(packet.begin(), packet.begin() + length);
      const ParseError e = parse(truncated);
      EXPECT_NE(e, ParseError::ok) << "truncated to " << length << " of " << packet.size();
      if (length < TMC_COMMON_HEADER_SIZE) {
        EXPECT_EQ(e, ParseError::too_short) << length;
      }
    }
  }
}

}  // namespace
}  // namespace tmc::wire
