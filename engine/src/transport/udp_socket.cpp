#include "transport/udp_socket.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

namespace tmc::transport {
namespace {
constexpr int kSocketBuffer = 8 << 20;  // absorbs bursts of a full window at datacenter rates

void set_option(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof value); }
}  // namespace

int probe_path_mtu(const core::SocketAddress& destination) {
  if (destination.family() != AF_INET && destination.family() != AF_INET6) return -1;
  UniqueFd probe(make_engine_fd(::socket(destination.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0)));
  if (!probe || ::connect(probe.get(), destination.raw(), destination.length) != 0) return -1;
  int mtu = 0;
  socklen_t length = sizeof mtu;
  const int level = destination.family() == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
  const int name = destination.family() == AF_INET ? IP_MTU : IPV6_MTU;
  if (::getsockopt(probe.get(), level, name, &mtu, &length) != 0) return -1;
  return mtu;
}

UdpSocket::UdpSocket(const core::SocketAddress& local) : family_(local.family()) {
  int fd = ::socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  fd = make_engine_fd(fd);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
  fd_ = UniqueFd(fd);
  // Only for a chosen port (multicast members sharing a group port): with SO_REUSEADDR set, an
  // ephemeral bind (port 0) may be given a port another SO_REUSEADDR socket already holds, and
  // the kernel then delivers that port's datagrams to one of the two only.
  if (local.port() != 0) set_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  // SO_*BUFFORCE works as root and ignores rmem_max; fall back to the capped variant.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
    set_option(fd, SOL_SOCKET, SO_RCVBUF, kSocketBuffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
    set_option(fd, SOL_SOCKET, SO_SNDBUF, kSocketBuffer);
  if (local.is_multicast()) set_option(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  // ICMP errors for datagrams we sent (port unreachable: nobody listens there) are queued on
  // the socket's error queue (ip(7) IP_RECVERR); receive_errors() reads them.
  if (family_ == AF_INET6) set_option(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
  set_option(fd, IPPROTO_IP, IP_RECVERR, 1);
  if (family_ == AF_INET) {
    set_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 1);  // members on this host receive group sends
    if (!local.is_unspecified() && !local.is_multicast()) {
      // Multicast leaves through the interface of the bound address, not the default route.
      ip_mreqn interface{};
      interface.imr_address = reinterpret_cast<const sockaddr_in*>(&local.storage)->sin_addr;
      ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface);
    }
  }
  if (::bind(fd, local.raw(), local.length) != 0)
    throw std::system_error(errno, std::generic_category(), "bind " + local.to_string());

  out_offsets_.resize(kBatch);
  out_lengths_.resize(kBatch);
  out_destinations_.resize(kBatch);
}

core::SocketAddress UdpSocket::local_address() const {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&storage), &length);
  return core::SocketAddress::from(reinterpret_cast<sockaddr*>(&storage), length);
}

void UdpSocket::join_group(const core::SocketAddress& group) {
  if (group.family() == AF_INET) {
    ip_mreqn request{};
    request.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(&group.storage)->sin_addr;
    request.imr_address.s_addr = htonl(INADDR_ANY);
    if (::setsockopt(fd_.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request) != 0)
      throw std::system_error(errno, std::generic_category(), "IP_ADD_MEMBERSHIP " + group.to_string());
  } else {
    ipv6_mreq request{};
    request.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(&group.storage)->sin6_addr;
    if (::setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof request) != 0)
      throw std::system_error(errno, std::generic_category(), "IPV6_JOIN_GROUP " + group.to_string());
  }
}

void UdpSocket::queue(const core::SocketAddress& to, std::span<const std::byte> packet) {
  if (packet.size() > kMaxDatagram) return;
  if (out_count_ == kBatch) flush();
  const std::size_t offset = out_count_ == 0 ? 0 : out_offsets_[out_count_ - 1] + out_lengths_[out_count_ - 1];
  if (out_buffer_.size() < offset + packet.size()) out_buffer_.resize(offset + packet.size());
  std::memcpy(out_buffer_.data() + offset, packet.data(), packet.size());
  out_offsets_[out_count_] = offset;
  out_lengths_[out_count_] = packet.size();
  out_destinations_[out_count_] = to;
  ++out_count_;
}

std::size_t UdpSocket::flush() {
  std::size_t failed = 0;
  std::size_t done = 0;
  mmsghdr headers[kBatch];
  iovec iov[kBatch];
  while (done < out_count_) {
    const std::size_t count = out_count_ - done;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t slot = done + i;
      iov[i] = {out_buffer_.data() + out_offsets_[slot], out_lengths_[slot]};
      headers[i] = {};
      headers[i].msg_hdr.msg_name = const_cast<sockaddr*>(out_destinations_[slot].raw());
      headers[i].msg_hdr.msg_namelen = out_destinations_[slot].length;
      headers[i].msg_hdr.msg_iov = &iov[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
    const int sent = ::sendmmsg(fd_.get(), headers, static_cast<unsigned>(count), MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      // The failing datagram is dropped (the reliability layer recovers it); go on with the rest.
      ++failed;
      ++done;
      continue;
    }
    done += static_cast<std::size_t>(sent);
  }
  out_count_ = 0;
  return failed;
}

namespace {
// One receive arena per thread (every socket of a runtime is read by its one thread). The
// headers point into it once and for all; recvmmsg only writes msg_len, msg_flags and
// msg_namelen, so a receive only resets msg_namelen of the slots it used.
struct ReceiveBuffers {
  // Left uninitialised (not a zero-filled vector): the kernel maps the 4 MiB lazily, so a
  // thread that receives small datagrams only makes the pages it writes resident.
  std::unique_ptr<std::byte[]> data{new std::byte[UdpSocket::kBatch * UdpSocket::kMaxDatagram]};
  mmsghdr headers[UdpSocket::kBatch];
  iovec iov[UdpSocket::kBatch];
  sockaddr_storage sources[UdpSocket::kBatch];

  ReceiveBuffers() {
    for (std::size_t i = 0; i < UdpSocket::kBatch; ++i) {
      iov[i] = {data.get() + i * UdpSocket::kMaxDatagram, UdpSocket::kMaxDatagram};
      headers[i] = {};
      headers[i].msg_hdr.msg_name = &sources[i];
      headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      headers[i].msg_hdr.msg_iov = &iov[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
  }
};
}  // namespace

std::size_t UdpSocket::receive_batch(
    const std::function<void(std::span<const std::byte>, const core::SocketAddress&)>& on_datagram) {
  thread_local ReceiveBuffers buffers;
  std::byte* buffer = buffers.data.get();
  auto* headers = buffers.headers;
  auto* sources = buffers.sources;
  int received;
  do received = ::recvmmsg(fd_.get(), headers, kBatch, MSG_DONTWAIT, nullptr);
  while (received < 0 && errno == EINTR);
  if (received <= 0) return 0;
  for (int i = 0; i < received; ++i) {
    const socklen_t source_length = headers[i].msg_hdr.msg_namelen;
    headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);  // ready for the next call
    const auto source = core::SocketAddress::from(reinterpret_cast<sockaddr*>(&sources[i]), source_length);
    if (headers[i].msg_hdr.msg_flags & MSG_TRUNC) continue;  // larger than any TMC packet
    on_datagram(std::span<const std::byte>(buffer + i * kMaxDatagram, headers[i].msg_len), source);
  }
  return static_cast<std::size_t>(received);
}

std::size_t UdpSocket::receive_errors(const std::function<void(const core::SocketAddress&, int)>& on_error) {
  std::size_t count = 0;
  for (;;) {
    sockaddr_storage destination{};
    alignas(cmsghdr) char control[256];
    std::byte head[64];  // the start of the datagram that failed (unused)
    iovec iov{head, sizeof head};
    msghdr message{};
    message.msg_name = &destination;
    message.msg_namelen = sizeof destination;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (::recvmsg(fd_.get(), &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      return count;  // EAGAIN: the queue is empty
    }
    ++count;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
      const bool v4 = header->cmsg_level == IPPROTO_IP && header->cmsg_type == IP_RECVERR;
      const bool v6 = header->cmsg_level == IPPROTO_IPV6 && header->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) continue;
      sock_extended_err error;
      std::memcpy(&error, CMSG_DATA(header), sizeof error);
      if (error.ee_origin != SO_EE_ORIGIN_ICMP && error.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      // msg_name is the original destination of the datagram the ICMP error answers.
      on_error(core::SocketAddress::from(reinterpret_cast<sockaddr*>(&destination), message.msg_namelen),
               static_cast<int>(error.ee_errno));
    }
  }
}

}  // namespace tmc::transport
