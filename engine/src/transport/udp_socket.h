// The UDP transport of a channel: one nonblocking socket, batched receive (recvmmsg) and
// batched send (sendmmsg), IP multicast membership.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "transport/fd_util.h"

namespace tmc::transport {

// The IP MTU of the route to `destination` (IP_MTU of a connected probe socket: 65536 on
// loopback, the interface MTU elsewhere), or -1 when there is no route.
int probe_path_mtu(const core::SocketAddress& destination);

class UdpSocket {
 public:
  static constexpr std::size_t kBatch = 64;               // datagrams per recvmmsg/sendmmsg
  static constexpr std::size_t kMaxDatagram = 64 * 1024;  // UDP payload limit

  // Binds to `local` (port 0: ephemeral). Throws std::system_error.
  explicit UdpSocket(const core::SocketAddress& local);
  int fd() const { return fd_.get(); }
  core::SocketAddress local_address() const;
  void join_group(const core::SocketAddress& group);  // IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP

  // Queues a datagram; flush() sends everything queued with sendmmsg.
  void queue(const core::SocketAddress& to, std::span<const std::byte> packet);
  // Returns datagrams that could not be sent (socket buffer full or error); they are dropped.
  std::size_t flush();
  std::size_t queued() const { return out_count_; }
  std::size_t queued_bytes() const { return out_count_ ? out_offsets_[out_count_ - 1] + out_lengths_[out_count_ - 1] : 0; }

  // Receives up to kBatch datagrams; calls `on_datagram` for each. Returns how many arrived
  // (0 when the socket is drained).
  std::size_t receive_batch(const std::function<void(std::span<const std::byte>, const core::SocketAddress&)>& on_datagram);

  // Drains the error queue (EPOLLERR): calls `on_error(destination, errno)` for each ICMP error
  // answering a datagram sent to `destination` (ECONNREFUSED: port unreachable). Returns how
  // many queued errors were read. Reading them also clears the pending socket error.
  std::size_t receive_errors(const std::function<void(const core::SocketAddress& destination, int error)>& on_error);

 private:
  UniqueFd fd_;
  int family_;
  // Send queue: packets appended to one arena. (Receive buffers are per thread: every socket
  // of a runtime is read by its one thread.)
  std::vector<std::byte> out_buffer_;
  std::vector<std::size_t> out_offsets_, out_lengths_;
  std::vector<core::SocketAddress> out_destinations_;
  std::size_t out_count_ = 0;
};

}  // namespace tmc::transport
