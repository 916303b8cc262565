// The UDP transport of a channel: one nonblocking socket, batched receive (recvmmsg) and
// batched send (sendmmsg), IP multicast membership, and the kernel's UDP segmentation offloads
// (udp(7)): on send, runs of equal-size datagrams to one destination leave as one UDP GSO
// super-packet (UDP_SEGMENT, planned by GsoBatcher); on receive, UDP_GRO lets the kernel hand
// over coalesced datagrams, which receive_batch() splits back into the datagrams as sent. The
// wire format is unchanged: every segment is one TMC packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "transport/fd_util.h"
#include "transport/gso_batcher.h"

namespace tmc::transport {

// The IP MTU of the route to `destination` (IP_MTU of a connected probe socket: 65536 on
// loopback, the interface MTU elsewhere), or -1 when there is no route.
int probe_path_mtu(const core::SocketAddress& destination);

class UdpSocket {
 public:
  static constexpr std::size_t kBatch = 64;               // datagrams per recvmmsg/sendmmsg
  static constexpr std::size_t kMaxDatagram = 64 * 1024;  // UDP payload limit

  // Which offloads to try. Each is dropped for good, said once at debug level, when the kernel
  // refuses it: setsockopt/getsockopt at open fails (Linux < 4.18 / 5.0), or a GSO send fails
  // with EIO (no checksum offload on the route). EINVAL/EMSGSIZE (a gso_size above the path
  // MTU) only lower the segment size tried (refuse_gso). Refused sends go out one by one.
  struct Offload {
    bool gso = true;  // UDP_SEGMENT on send
    bool gro = true;  // UDP_GRO on receive
    // Both on unless $TMC_UDP_GSO is "0" (for A/B measurements; docs/wire-format.md).
    static Offload from_environment();
  };
  // What the offloads did: GSO super-packets sent and the datagrams (segments) they carried;
  // coalesced datagrams received (more than one segment) and the segments split from them.
  struct OffloadCounters {
    std::uint64_t gso_sends = 0, gso_segments = 0;
    std::uint64_t gro_receives = 0, gro_segments = 0;
  };

  // Binds to `local` (port 0: ephemeral). Throws std::system_error.
  explicit UdpSocket(const core::SocketAddress& local, Offload offload = Offload::from_environment());
  int fd() const { return fd_.get(); }
  core::SocketAddress local_address() const;
  void join_group(const core::SocketAddress& group);  // IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP

  // Queues a datagram; flush() sends everything queued with one sendmmsg (more when a send
  // fails part-way), equal-size runs to one destination as GSO super-packets (GsoBatcher).
  void queue(const core::SocketAddress& to, std::span<const std::byte> packet);
  // Returns datagrams that could not be sent (socket buffer full or error); they are dropped.
  // A GSO super-packet the kernel refuses (EIO, EINVAL, EMSGSIZE) is sent again datagram by
  // datagram.
  std::size_t flush();
  std::size_t queued() const { return out_count_; }
  std::size_t queued_bytes() const { return out_count_ ? out_offsets_[out_count_ - 1] + out_lengths_[out_count_ - 1] : 0; }

  // Receives up to kBatch datagrams; calls `on_datagram` for each — for each segment of a
  // coalesced (UDP_GRO) datagram, so every call is one datagram as its sender sent it. Returns
  // how many datagrams the kernel returned (0 when the socket is drained; <= kBatch).
  std::size_t receive_batch(const std::function<void(std::span<const std::byte>, const core::SocketAddress&)>& on_datagram);

  // Drains the error queue (EPOLLERR): calls `on_error(destination, errno)` for each ICMP error
  // answering a datagram sent to `destination` (ECONNREFUSED: port unreachable). Returns how
  // many queued errors were read. Reading them also clears the pending socket error.
  std::size_t receive_errors(const std::function<void(const core::SocketAddress& destination, int error)>& on_error);

  // GSO on send (false: never tried, or refused by the kernel).
  bool gso_enabled() const { return gso_; }
  bool gro_enabled() const { return gro_; }
  // A class per queued datagram, computed by queue() from its destination and bytes: datagrams
  // of different classes never share a super-packet (GsoBatcher). A channel with the eBPF
  // fan-out attached sets transport::fanout_gso_class (kernel_fanout.h): the tc program judges a
  // super-packet by its first TMC header. Empty (the default): one class. Datagrams already
  // queued are classed anew. Call it under the lock that guards queue()/flush().
  using GsoClass = std::function<std::uint8_t(const core::SocketAddress& to, std::span<const std::byte> packet)>;
  void set_gso_class(GsoClass gso_class);
  const OffloadCounters& offload_counters() const { return counters_; }

 private:
  void refuse_gso(int error, std::size_t segment_size);
  UniqueFd fd_;
  int family_;
  bool gso_ = false, gro_ = false;
  GsoBatcher batcher_;
  std::vector<GsoBatcher::Unit> units_;  // flush()'s working copy of the plan
  GsoBatcher::Limits gso_limits_;
  int gso_refusals_ = 0;  // EINVAL/EMSGSIZE refusals so far (each lowers max_segment_size)
  OffloadCounters counters_;
  // Send queue: packets appended to one arena. (Receive buffers are per thread: every socket
  // of a runtime is read by its one thread.)
  std::vector<std::byte> out_buffer_;
  std::vector<std::size_t> out_offsets_, out_lengths_;
  std::vector<core::SocketAddress> out_destinations_;
  std::vector<std::uint8_t> out_classes_;  // gso_class_ of each queued datagram (unused without one)
  std::size_t out_count_ = 0;
  GsoClass gso_class_;
};

}  // namespace tmc::transport
