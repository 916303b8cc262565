// GRO splitting: a datagram received on a socket with UDP_GRO (udp(7)) may be several UDP
// datagrams of one flow that the kernel coalesced (or a UDP GSO super-packet that was never
// segmented); the UDP_GRO control message gives the segment size. Every segment but the last
// is exactly that long, the last may be shorter — each is one datagram as its sender sent it,
// so each is one TMC packet, parsed and validated on its own by the caller.
//
// Contract: calls on_segment(span) for consecutive slices of `datagram` of `segment_size`
// bytes, the last holding the remainder; never a slice outside `datagram`, never an empty one.
// segment_size == 0 (no control message) or >= the datagram length: the datagram is one
// segment. Returns the number of segments (0 for an empty datagram).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

namespace tmc::transport {

template <typename OnSegment>
std::size_t split_gro_datagram(std::span<const std::byte> datagram, std::size_t segment_size, OnSegment&& on_segment) {
  if (datagram.empty()) return 0;
  if (segment_size == 0 || segment_size >= datagram.size()) {
    on_segment(datagram);
    return 1;
  }
  std::size_t segments = 0;
  for (std::size_t offset = 0; offset < datagram.size(); offset += segment_size, ++segments)
    on_segment(datagram.subspan(offset, std::min(segment_size, datagram.size() - offset)));
  return segments;
}

}  // namespace tmc::transport
