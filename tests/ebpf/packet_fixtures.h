// Packet fixtures for the eBPF program tests (bpf_prog_test_run): Ethernet + IPv4 + UDP and
// Ethernet + IPv6 (+ extension headers) + UDP frames with correct checksums, carrying TMC
// headers (tmc/wire_format.h) or anything else.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tmc/wire_format.h"

namespace tmc::bpf::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr size_t kEthernetLength = 14;
inline constexpr size_t kIpv4Length = 20;
inline constexpr size_t kUdpLength = 8;
inline constexpr size_t kPayloadOffset = kEthernetLength + kIpv4Length + kUdpLength;  // 42

struct Endpoint {
  std::string ipv4;
  uint16_t port;
  Mac mac;
};

inline void put16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xFF; }
inline void put32(uint8_t* p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xFFFF); }
inline void put64(uint8_t* p, uint64_t v) { put32(p, v >> 32); put32(p + 4, v & 0xFFFFFFFF); }
inline uint16_t get16(const uint8_t* p) { return (p[0] << 8) | p[1]; }
inline uint32_t get32(const uint8_t* p) { return (uint32_t(get16(p)) << 16) | get16(p + 2); }

// RFC 1071 one's complement sum.
inline uint32_t sum16(const uint8_t* data, size_t length, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < length; i += 2) sum += get16(data + i);
  if (length & 1) sum += uint32_t(data[length - 1]) << 8;
  return sum;
}
inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Checksum of an IPv4 header (0 when valid, as computed over the header with its checksum).
inline uint16_t ipv4_header_checksum(const Bytes& frame) {
  return fold(sum16(frame.data() + kEthernetLength, kIpv4Length));
}
// UDP checksum over pseudo header + datagram (0 when valid; RFC 768).
inline uint16_t udp_checksum(const Bytes& frame) {
  const uint8_t* ip = frame.data() + kEthernetLength;
  const uint8_t* udp = ip + kIpv4Length;
  uint16_t udp_length = get16(udp + 4);
  uint32_t sum = sum16(ip + 12, 8);  // source + destination address
  sum += 17 + udp_length;
  sum = sum16(udp, udp_length, sum);
  return fold(sum);
}

inline std::array<uint8_t, 4> ipv4_bytes(const std::string& text) {
  std::array<uint8_t, 4> bytes{};
  inet_pton(AF_INET, text.c_str(), bytes.data());
  return bytes;
}

// Ethernet/IPv4/UDP frame around `payload`, checksums filled in.
inline Bytes udp_frame(const Endpoint& from, const Endpoint& to, const Bytes& payload, uint8_t tos = 0) {
  Bytes frame(kPayloadOffset + payload.size());
  uint8_t* p = frame.data();
  std::memcpy(p, to.mac.data(), 6);
  std::memcpy(p + 6, from.mac.data(), 6);
  put16(p + 12, 0x0800);
  uint8_t* ip = p + kEthernetLength;
  ip[0] = 0x45;
  ip[1] = tos;
  put16(ip + 2, static_cast<uint16_t>(kIpv4Length + kUdpLength + payload.size()));
  put16(ip + 4, 0x1234);
  put16(ip + 6, 0x4000);  // don't fragment
  ip[8] = 64;
  ip[9] = 17;
  auto source = ipv4_bytes(from.ipv4), destination = ipv4_bytes(to.ipv4);
  std::memcpy(ip + 12, source.data(), 4);
  std::memcpy(ip + 16, destination.data(), 4);
  put16(ip + 10, fold(sum16(ip, kIpv4Length)));
  uint8_t* udp = ip + kIpv4Length;
  put16(udp, from.port);
  put16(udp + 2, to.port);
  put16(udp + 4, static_cast<uint16_t>(kUdpLength + payload.size()));
  std::memcpy(udp + kUdpLength, payload.data(), payload.size());
  uint16_t check = udp_checksum(frame);
  put16(udp + 6, check == 0 ? 0xFFFF : check);
  return frame;
}

struct TmcHeader {
  uint8_t type = TMC_TYPE_DATA;
  uint16_t flags = 0;
  uint32_t channel_id = 7;
  uint32_t sender_id = 1;
  uint32_t epoch = 1;
  uint16_t stream = 1;
  uint64_t sequence = 1;
  uint32_t fragment_index = 0;
  uint32_t fragment_count = 1;
  uint8_t version = TMC_VERSION;
};

// A TMC packet's UDP payload: common header + type part (DATA: 28 bytes; other types: the
// minimum of their type part) + `body`.
inline Bytes tmc_payload(const TmcHeader& h, const Bytes& body = Bytes(16, 0xAB)) {
  size_t header_length = TMC_COMMON_HEADER_SIZE;
  if (h.type == TMC_TYPE_DATA) header_length = TMC_DATA_HEADER_SIZE;
  if (h.type == TMC_TYPE_ACK) header_length = TMC_ACK_HEADER_SIZE;
  if (h.type == TMC_TYPE_CONTROL) header_length = TMC_CONTROL_HEADER_SIZE;
  Bytes out(header_length + body.size(), 0);
  uint8_t* p = out.data();
  put16(p + TMC_OFF_MAGIC, TMC_MAGIC);
  p[TMC_OFF_VERSION] = h.version;
  p[TMC_OFF_TYPE] = h.type;
  put16(p + TMC_OFF_FLAGS, h.flags);
  put16(p + TMC_OFF_HEADER_LENGTH, static_cast<uint16_t>(header_length));
  put32(p + TMC_OFF_CHANNEL_ID, h.channel_id);
  put32(p + TMC_OFF_SENDER_ID, h.sender_id);
  put32(p + TMC_OFF_EPOCH, h.epoch);
  put16(p + TMC_OFF_PAYLOAD_LENGTH, static_cast<uint16_t>(body.size()));
  put16(p + TMC_OFF_STREAM, h.stream);
  if (h.type == TMC_TYPE_DATA) {
    put64(p + TMC_OFF_SEQUENCE, h.sequence);
    put32(p + TMC_OFF_MESSAGE_LENGTH, static_cast<uint32_t>(body.size() * h.fragment_count));
    put32(p + TMC_OFF_FRAGMENT_INDEX, h.fragment_index);
    put32(p + TMC_OFF_FRAGMENT_COUNT, h.fragment_count);
  }
  std::memcpy(p + header_length, body.data(), body.size());
  return out;
}

inline const Endpoint kSender{"10.77.0.10", 40000, {0x02, 0, 0, 0, 0, 0x10}};
inline const Endpoint kReceiver{"10.77.0.1", 7001, {0x02, 0, 0, 0, 0, 0x01}};

inline Bytes tmc_frame(const TmcHeader& h, const Endpoint& from = kSender, const Endpoint& to = kReceiver) {
  return udp_frame(from, to, tmc_payload(h));
}

// An ARP request (who-has 10.77.0.1), padded to the Ethernet minimum.
inline Bytes arp_frame() {
  Bytes frame(60, 0);
  uint8_t* p = frame.data();
  std::memset(p, 0xFF, 6);
  std::memcpy(p + 6, kSender.mac.data(), 6);
  put16(p + 12, 0x0806);
  uint8_t* arp = p + kEthernetLength;
  put16(arp, 1);
  put16(arp + 2, 0x0800);
  arp[4] = 6;
  arp[5] = 4;
  put16(arp + 6, 1);
  std::memcpy(arp + 8, kSender.mac.data(), 6);
  auto sender = ipv4_bytes(kSender.ipv4), target = ipv4_bytes(kReceiver.ipv4);
  std::memcpy(arp + 14, sender.data(), 4);
  std::memcpy(arp + 24, target.data(), 4);
  return frame;
}

// ---- IPv6 (RFC 8200) ----------------------------------------------------------------------
inline constexpr size_t kIpv6Length = 40;
inline constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestinationOptions = 60, kIcmpv6 = 58;

struct Endpoint6 {
  std::string ipv6;
  uint16_t port;
  Mac mac;
};

inline std::array<uint8_t, 16> ipv6_bytes(const std::string& text) {
  std::array<uint8_t, 16> bytes{};
  inet_pton(AF_INET6, text.c_str(), bytes.data());
  return bytes;
}

struct Ipv6Layout {
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0x12345;
  // Extension headers in order, each 8 octets (hop-by-hop / routing / destination options
  // carry a PadN option; a Fragment header says offset 0, more fragments).
  std::vector<uint8_t> extensions;
  uint8_t upper_layer = 17;  // UDP
};

// Offset of the UDP header in a frame built with `layout`.
inline size_t udp6_offset(const Ipv6Layout& layout = {}) {
  return kEthernetLength + kIpv6Length + 8 * layout.extensions.size();
}

// UDP checksum over the IPv6 pseudo header (RFC 8200 §8.1) + datagram at `udp_offset`
// (0 when valid).
inline uint16_t udp6_checksum(const Bytes& frame, size_t udp_offset) {
  const uint8_t* ip = frame.data() + kEthernetLength;
  const uint8_t* udp = frame.data() + udp_offset;
  uint16_t udp_length = get16(udp + 4);
  uint32_t sum = sum16(ip + 8, 32);  // source + destination address
  sum += udp_length;
  sum += 17;
  sum = sum16(udp, udp_length, sum);
  return fold(sum);
}

// Ethernet/IPv6[/extension headers]/UDP frame around `payload`, UDP checksum filled in.
inline Bytes udp6_frame(const Endpoint6& from, const Endpoint6& to, const Bytes& payload, const Ipv6Layout& layout = {}) {
  const size_t udp_at = udp6_offset(layout);
  Bytes frame(udp_at + kUdpLength + payload.size(), 0);
  uint8_t* p = frame.data();
  std::copy(to.mac.begin(), to.mac.end(), frame.begin());
  std::copy(from.mac.begin(), from.mac.end(), frame.begin() + 6);
  put16(p + 12, 0x86DD);
  uint8_t* ip = p + kEthernetLength;
  put32(ip, (6u << 28) | (uint32_t(layout.traffic_class) << 20) | (layout.flow_label & 0xFFFFF));
  put16(ip + 4, static_cast<uint16_t>(frame.size() - kEthernetLength - kIpv6Length));
  ip[6] = layout.extensions.empty() ? layout.upper_layer : layout.extensions[0];
  ip[7] = 64;
  auto source = ipv6_bytes(from.ipv6), destination = ipv6_bytes(to.ipv6);
  std::memcpy(ip + 8, source.data(), 16);
  std::memcpy(ip + 24, destination.data(), 16);
  for (size_t i = 0; i < layout.extensions.size(); i++) {
    uint8_t* extension = ip + kIpv6Length + 8 * i;
    extension[0] = i + 1 < layout.extensions.size() ? layout.extensions[i + 1] : layout.upper_layer;
    if (layout.extensions[i] == kFragment) {
      put16(extension + 2, 0x0001);  // offset 0, M = 1
      put32(extension + 4, 0xABCD);
    } else {
      extension[1] = 0;     // 8 octets in all
      extension[2] = 1;     // PadN
      extension[3] = 4;     // of 4 octets
    }
  }
  uint8_t* udp = p + udp_at;
  put16(udp, from.port);
  put16(udp + 2, to.port);
  put16(udp + 4, static_cast<uint16_t>(kUdpLength + payload.size()));
  std::memcpy(udp + kUdpLength, payload.data(), payload.size());
  if (layout.upper_layer == 17) {
    uint16_t check = udp6_checksum(frame, udp_at);
    put16(udp + 6, check == 0 ? 0xFFFF : check);  // zero is not allowed over IPv6
  }
  return frame;
}

inline const Endpoint6 kSender6{"fd00:77::10", 40000, {0x02, 0, 0, 0, 0, 0x10}};
inline const Endpoint6 kReceiver6{"fd00:77::1", 7001, {0x02, 0, 0, 0, 0, 0x01}};

inline Bytes tmc6_frame(const TmcHeader& h, const Ipv6Layout& layout = {}) {
  return udp6_frame(kSender6, kReceiver6, tmc_payload(h), layout);
}

}  // namespace tmc::bpf::test
