// GsoBatcher: decides how the datagrams queued on a UdpSocket leave in one sendmmsg — which of
// them travel together as one UDP GSO super-packet (sendmsg with UDP_SEGMENT, udp(7)) and
// which alone. Sans-IO: it sees destinations and lengths, never a socket.
//
// Contract:
//   * Every queued datagram is in exactly one unit; units are returned in the order of their
//     first datagram, and the datagrams to one destination keep their queue order (units of
//     different destinations may interleave differently than queued: they are independent
//     paths, no order between them is promised anywhere).
//   * A GSO unit holds >= 2 datagrams to one destination, all of one length (segment_size)
//     except the last, which may be shorter. The kernel cuts the super-packet every
//     segment_size bytes, so each segment on the wire is exactly one queued datagram: one
//     complete TMC packet, the wire format is unchanged (docs/wire-format.md).
//   * A unit never exceeds the kernel's limits: at most Limits::max_segments datagrams
//     (UDP_MAX_SEGMENTS, 64 before Linux 6.10) and at most Limits::max_bytes of payload (one
//     IPv4 datagram: 65535 - 20 - 8); segment_size <= Limits::max_segment_size (the kernel
//     refuses a gso_size above the path MTU: EMSGSIZE, EINVAL before Linux 6.x).
//   * With `classes` given, a unit's datagrams all have one class: a datagram of another
//     class to the same destination ends the run (as a longer one does), so classes split
//     runs without reordering. A program on the path that judges a whole super-packet by its
//     first datagram (the eBPF fan-out, tmc/fanout_rule.h) then treats every segment alike.
//   * A run is only formed from datagrams that are already queued: nothing waits for more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/socket_address.h"

namespace tmc::transport {

class GsoBatcher {
 public:
  struct Limits {
    std::size_t max_segments = 64;        // UDP_MAX_SEGMENTS (include/linux/udp.h), the older, smaller value
    std::size_t max_bytes = 65535 - 20 - 8;  // IPv4 total length limit (RFC 791) minus IP and UDP headers
    std::size_t max_segment_size = 65535;    // lowered when the kernel refused a gso_size (path MTU)
  };

  // A unit: `count` datagrams whose queue indices are order[first .. first + count).
  // segment_size == 0: one datagram sent as is (count == 1).
  struct Unit {
    std::uint32_t first = 0;
    std::uint32_t count = 0;
    std::uint32_t segment_size = 0;
  };

  // Plans the units for datagrams i = 0..lengths.size()-1 sent to destinations[i]. With
  // `enabled` false every datagram is its own unit (today's sendmmsg path). `classes` is empty
  // (one class) or holds classes[i] for every datagram. The result stays valid until the next
  // call.
  void plan(std::span<const core::SocketAddress> destinations, std::span<const std::size_t> lengths,
            const Limits& limits, bool enabled, std::span<const std::uint8_t> classes = {});

  const std::vector<Unit>& units() const { return units_; }
  const std::vector<std::uint32_t>& order() const { return order_; }

 private:
  std::vector<Unit> units_;
  std::vector<std::uint32_t> order_;
  std::vector<bool> assigned_;
};

}  // namespace tmc::transport
