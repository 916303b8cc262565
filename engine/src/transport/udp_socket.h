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
#include <optional>
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
    std::uint64_t corked_datagrams = 0;  // appended to the kernel's cork (cork_queued), lost ones included
  };

  // Binds to `local` (port 0: ephemeral). Throws std::system_error.
  explicit UdpSocket(const core::SocketAddress& local, Offload offload = Offload::from_environment());
  int fd() const { return fd_.get(); }
  core::SocketAddress local_address() const;
  void join_group(const core::SocketAddress& group);  // IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP

  // Queues a datagram; flush() sends everything queued with one sendmmsg (more when a send
  // fails part-way), equal-size runs to one destination as GSO super-packets (GsoBatcher).
  // The bytes are copied into the send queue: the caller may reuse them at once.
  void queue(const core::SocketAddress& to, std::span<const std::byte> packet);
  // Queues the datagram `header` ++ `payload` (a TMC header and the bytes it carries), copying
  // both: one copy of the payload, no intermediate packet buffer.
  void queue(const core::SocketAddress& to, std::span<const std::byte> header, std::span<const std::byte> payload);
  // Queues `header` ++ `payload` copying only `header`: the datagram's payload is sent from
  // the caller's bytes (sendmmsg gathers them through an iovec). Contract: `payload` stays
  // valid and unchanged until the next flush() or own_borrowed() — the caller calls one of them
  // before its bytes may change (Channel::send does, before it returns). Not for bytes that
  // something else may recycle meanwhile (a reliable packet's retransmission buffer, which an
  // acknowledgement frees): those go through queue(), which copies.
  // A payload shorter than kMinBorrowed is copied next to its header instead (as queue(to,
  // header, payload)): copying it costs less than the kernel walking a second iovec.
  static constexpr std::size_t kMinBorrowed = 1024;
  void queue_borrowed(const core::SocketAddress& to, std::span<const std::byte> header,
                      std::span<const std::byte> payload);
  // Copies the payloads queue_borrowed() left in the caller's memory into the send queue, so
  // the datagrams can wait for a later flush(). No-op when nothing is borrowed.
  void own_borrowed();
  std::size_t borrowed() const { return borrowed_count_; }
  // Returns datagrams that could not be sent (socket buffer full or error); they are dropped.
  // A GSO super-packet the kernel refuses (EIO, EINVAL, EMSGSIZE) is sent again datagram by
  // datagram.
  // flush() pushes an open kernel cork first (see cork_queued), so datagrams keep their order.
  std::size_t flush();
  std::size_t queued() const { return out_count_; }

  // Kernel corking (udp(7): MSG_MORE with a UDP_SEGMENT gso_size): consecutive sends of
  // equal-size datagrams to one destination are appended to one pending super-packet in the
  // kernel, which copies the bytes during the call (a borrowed payload may change as soon as it
  // returns), and leave together as one GSO send. The stack's per-datagram work (route lookup,
  // skb, the loopback/veth receive path, the receiver's wake-up) is then paid once per
  // super-packet, without a copy in user space. Contract:
  //  * cork_queued(): when GSO is on and everything queued is one run — datagrams to one
  //    destination (and of one GSO class), all of one size except perhaps a shorter last, within
  //    the GsoBatcher limits — appends them to the cork and returns how many datagrams were lost
  //    (when an append fails the kernel discards the whole pending super-packet: those are
  //    counted too). An open cork the run cannot join (other destination, size or class, or the
  //    run would outgrow the limits) is pushed first. The call pushes the cork itself when no
  //    further datagram of this size would fit or the run ends with a shorter datagram.
  //    nullopt: the queue is not one such run; nothing was done (flush() it).
  //  * corked(): a pending super-packet waits in the kernel. It leaves with the next flush(),
  //    push_cork(), or a cork_queued() it cannot join — nothing else sends it, so the owner must
  //    make sure one of them follows soon (Channel posts a flush to its runtime thread). Closing
  //    the socket discards it.
  std::optional<std::size_t> cork_queued();
  bool corked() const { return corked_; }
  // Sends the pending super-packet; returns the datagrams lost (0 when nothing was corked).
  std::size_t push_cork();
  std::size_t queued_bytes() const { return queued_bytes_; }

  // Receives up to kBatch datagrams; calls `on_datagram` for each — for each segment of a
  // coalesced (UDP_GRO) datagram, so every call is one datagram as its sender sent it. Returns
  // how many datagrams the kernel returned (0 when the socket is drained; <= kBatch).
  // Each call asks for at most receive_limit() datagrams: kBatch, fewer when the last call's
  // datagrams were large (UDP_GRO super-packets), so one call copies about kReceiveBatchBytes —
  // a batch that stays in the CPU's cache while its segments are parsed and copied out
  // (64 coalesced 48 KiB datagrams are 3 MiB, more than this machine's 2 MiB L2).
  // last_batch_full(): the call filled its limit, so more may be waiting.
  std::size_t receive_batch(const std::function<void(std::span<const std::byte>, const core::SocketAddress&)>& on_datagram);
  static constexpr std::size_t kReceiveBatchBytes = 256 * 1024;
  static constexpr std::size_t kMinReceiveBatch = 4;
  std::size_t receive_limit() const { return receive_limit_; }
  bool last_batch_full() const { return last_batch_full_; }

  // Drains the error queue (EPOLLERR): calls `on_error(destination, errno)` for each ICMP error
  // answering a datagram sent to `destination` (ECONNREFUSED: port unreachable). Returns how
  // many queued errors were read. Reading them also clears the pending socket error.
  std::size_t receive_errors(const std::function<void(const core::SocketAddress& destination, int error)>& on_error);

  // GSO on send (false: never tried, or refused by the kernel).
  bool gso_enabled() const { return gso_; }
  bool gro_enabled() const { return gro_; }
  // A class per queued datagram, computed by queue() from its destination and first bytes (the
  // whole packet, or the header given to the two-piece queue calls): datagrams
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
  std::size_t receive_limit_ = kBatch;
  bool last_batch_full_ = false;
  // Send queue: datagrams of up to two pieces. The head (a whole packet, or its header) is
  // always copied into one arena; the tail (a payload) is in the arena too, or — borrowed —
  // still in the caller's memory (queue_borrowed, until flush/own_borrowed). Offsets, not
  // pointers, into the arena: appending may move it.
  struct Slot {
    std::size_t head_offset = 0, head_length = 0;
    std::size_t tail_offset = 0, tail_length = 0;
    const std::byte* borrowed_tail = nullptr;  // set: the tail is the caller's bytes
  };
  // Appends `bytes` to the arena; returns their offset. Grows without zero-filling what it
  // overwrites next (the arena keeps its size between flushes).
  std::size_t append(std::span<const std::byte> bytes);
  void push_slot(const core::SocketAddress& to, const Slot& slot);
  std::uint8_t gso_class_of(const core::SocketAddress& to, const Slot& slot) const;
  std::vector<std::byte> out_buffer_;
  std::size_t out_used_ = 0;  // arena bytes in use
  std::vector<Slot> out_slots_;
  std::vector<std::size_t> out_lengths_;  // datagram length of each slot (the batcher's input)
  std::vector<core::SocketAddress> out_destinations_;
  std::vector<std::uint8_t> out_classes_;  // gso_class_ of each queued datagram (unused without one)
  std::size_t out_count_ = 0;
  std::size_t queued_bytes_ = 0;
  std::size_t borrowed_count_ = 0;
  GsoClass gso_class_;
  // The kernel's pending super-packet (cork_queued): where to, its gso_size and GSO class, and
  // what it holds so far.
  bool corked_ = false;
  core::SocketAddress cork_destination_;
  std::size_t cork_segment_size_ = 0, cork_bytes_ = 0, cork_segments_ = 0;
  std::uint8_t cork_class_ = 0;
  void clear_queue();
  std::size_t add_iovecs(const Slot& slot, struct iovec* iov, std::size_t vectors);
};

}  // namespace tmc::transport
