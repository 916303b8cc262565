#include "transport/udp_socket.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include "transport/gro_splitter.h"

namespace tmc::transport {
namespace {
constexpr int kSocketBuffer = 8 << 20;  // absorbs bursts of a full window at datacenter rates

void set_option(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof value); }

// Control-message room for one UDP_SEGMENT (send: a uint16_t) or UDP_GRO (receive: an int).
constexpr std::size_t kOffloadControl = CMSG_SPACE(sizeof(int));
// A kernel that refuses this many gso_sizes (EINVAL/EMSGSIZE) refuses GSO altogether.
constexpr int kMaxGsoRefusals = 4;
}  // namespace

UdpSocket::Offload UdpSocket::Offload::from_environment() {
  const char* value = std::getenv("TMC_UDP_GSO");
  const bool on = !(value && std::strcmp(value, "0") == 0);
  return Offload{on, on};
}

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

UdpSocket::UdpSocket(const core::SocketAddress& local, Offload offload) : family_(local.family()) {
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
  // UDP_SEGMENT as a socket option is the per-socket default gso_size (0: none); reading it
  // tells whether the kernel knows GSO at all (Linux >= 4.18). Sends pass it per message.
  if (offload.gso) {
    int segment = 0;
    socklen_t length = sizeof segment;
    gso_ = ::getsockopt(fd, SOL_UDP, UDP_SEGMENT, &segment, &length) == 0;
    if (!gso_) SPDLOG_DEBUG("udp socket {}: no UDP GSO ({}); datagrams leave one by one", local.to_string(), std::strerror(errno));
  }
  if (offload.gro) {
    const int on = 1;
    gro_ = ::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
    if (!gro_) SPDLOG_DEBUG("udp socket {}: no UDP GRO ({})", local.to_string(), std::strerror(errno));
  }

  out_slots_.resize(kBatch);
  out_lengths_.resize(kBatch);
  out_destinations_.resize(kBatch);
  out_classes_.resize(kBatch);
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

std::size_t UdpSocket::append(std::span<const std::byte> bytes) {
  const std::size_t offset = out_used_;
  // resize() zero-fills only the growth; the arena keeps its size across flushes, so in the
  // steady state this is one memcpy.
  if (out_buffer_.size() < offset + bytes.size()) out_buffer_.resize(offset + bytes.size());
  if (!bytes.empty()) std::memcpy(out_buffer_.data() + offset, bytes.data(), bytes.size());
  out_used_ += bytes.size();
  return offset;
}

// The GSO class of a queued datagram, judged by its first bytes (its TMC header): 0 without a
// classifier.
std::uint8_t UdpSocket::gso_class_of(const core::SocketAddress& to, const Slot& slot) const {
  return gso_class_ ? gso_class_(to, std::span(out_buffer_.data() + slot.head_offset, slot.head_length)) : 0;
}

void UdpSocket::push_slot(const core::SocketAddress& to, const Slot& slot) {
  out_slots_[out_count_] = slot;
  out_lengths_[out_count_] = slot.head_length + slot.tail_length;
  out_destinations_[out_count_] = to;
  out_classes_[out_count_] = gso_class_of(to, slot);
  queued_bytes_ += slot.head_length + slot.tail_length;
  if (slot.borrowed_tail) ++borrowed_count_;
  ++out_count_;
}

void UdpSocket::queue(const core::SocketAddress& to, std::span<const std::byte> packet) {
  if (packet.size() > kMaxDatagram) return;
  if (out_count_ == kBatch) flush();
  Slot slot;
  slot.head_length = packet.size();
  slot.head_offset = append(packet);
  push_slot(to, slot);
}

void UdpSocket::queue(const core::SocketAddress& to, std::span<const std::byte> header,
                      std::span<const std::byte> payload) {
  if (header.size() + payload.size() > kMaxDatagram) return;
  if (out_count_ == kBatch) flush();
  Slot slot;
  slot.head_length = header.size() + payload.size();  // one contiguous piece
  slot.head_offset = append(header);
  append(payload);
  push_slot(to, slot);
}

void UdpSocket::queue_borrowed(const core::SocketAddress& to, std::span<const std::byte> header,
                               std::span<const std::byte> payload) {
  if (payload.size() < kMinBorrowed) return queue(to, header, payload);
  if (header.size() + payload.size() > kMaxDatagram) return;
  if (out_count_ == kBatch) flush();
  Slot slot;
  slot.head_length = header.size();
  slot.head_offset = append(header);
  slot.tail_length = payload.size();
  slot.borrowed_tail = payload.data();
  push_slot(to, slot);
}

void UdpSocket::own_borrowed() {
  if (borrowed_count_ == 0) return;
  for (std::size_t i = 0; i < out_count_; ++i) {
    Slot& slot = out_slots_[i];
    if (!slot.borrowed_tail) continue;
    slot.tail_offset = append(std::span(slot.borrowed_tail, slot.tail_length));
    slot.borrowed_tail = nullptr;
  }
  borrowed_count_ = 0;
}

void UdpSocket::set_gso_class(GsoClass gso_class) {
  gso_class_ = std::move(gso_class);
  for (std::size_t i = 0; i < out_count_; ++i) {
    const Slot& slot = out_slots_[i];
    out_classes_[i] = gso_class_of(out_destinations_[i], slot);
  }
}

// The iovecs of one queued datagram, its head and (when it has one) its tail, written at
// iov[vectors...]; returns the new count.
std::size_t UdpSocket::add_iovecs(const Slot& slot, iovec* iov, std::size_t vectors) {
  iov[vectors++] = {out_buffer_.data() + slot.head_offset, slot.head_length};
  if (slot.tail_length == 0) return vectors;
  std::byte* tail = slot.borrowed_tail ? const_cast<std::byte*>(slot.borrowed_tail) : out_buffer_.data() + slot.tail_offset;
  iov[vectors++] = {tail, slot.tail_length};
  return vectors;
}

void UdpSocket::clear_queue() {
  out_count_ = 0;
  out_used_ = 0;
  queued_bytes_ = 0;
  borrowed_count_ = 0;
}

namespace {
// Writes a UDP_SEGMENT control message (udp(7): the kernel cuts the payload every gso_size
// bytes) into `control` and points `message` at it.
void set_gso_size(msghdr& message, char* control, std::size_t segment_size) {
  message.msg_control = control;
  message.msg_controllen = CMSG_SPACE(sizeof(std::uint16_t));
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_UDP;
  header->cmsg_type = UDP_SEGMENT;
  header->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  const auto segment = static_cast<std::uint16_t>(segment_size);
  std::memcpy(CMSG_DATA(header), &segment, sizeof segment);
}

bool gso_refusal(int error) { return error == EIO || error == EINVAL || error == EMSGSIZE; }
}  // namespace

std::optional<std::size_t> UdpSocket::cork_queued() {
  if (!gso_ || out_count_ == 0) return std::nullopt;
  const core::SocketAddress& to = out_destinations_[0];
  const std::uint8_t gso_class = gso_class_ ? out_classes_[0] : 0;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < out_count_; ++i) {
    if (!(out_destinations_[i] == to) || (gso_class_ && out_classes_[i] != gso_class)) return std::nullopt;
    bytes += out_lengths_[i];
  }
  // Whether the queue is datagrams of `size` each, but perhaps a shorter last.
  auto run_of = [&](std::size_t size) {
    for (std::size_t i = 0; i + 1 < out_count_; ++i)
      if (out_lengths_[i] != size) return false;
    return out_lengths_[out_count_ - 1] <= size;
  };
  const bool joins = corked_ && cork_destination_ == to && cork_class_ == gso_class && run_of(cork_segment_size_) &&
                     cork_bytes_ + bytes <= gso_limits_.max_bytes &&
                     cork_segments_ + out_count_ <= gso_limits_.max_segments;
  const std::size_t segment_size = joins ? cork_segment_size_ : out_lengths_[0];
  if (!joins && (!run_of(segment_size) || segment_size == 0 || segment_size > gso_limits_.max_segment_size ||
                 bytes > gso_limits_.max_bytes || out_count_ > gso_limits_.max_segments))
    return std::nullopt;

  std::size_t lost = 0;
  if (corked_ && !joins) lost += push_cork();
  const std::size_t total_bytes = (corked_ ? cork_bytes_ : 0) + bytes;
  const std::size_t total_segments = (corked_ ? cork_segments_ : 0) + out_count_;
  const bool ends_short = out_lengths_[out_count_ - 1] < segment_size;
  const bool push = ends_short || total_bytes + segment_size > gso_limits_.max_bytes ||
                    total_segments + 1 > gso_limits_.max_segments;

  iovec iov[2 * kBatch];
  std::size_t vectors = 0;
  for (std::size_t i = 0; i < out_count_; ++i) vectors = add_iovecs(out_slots_[i], iov, vectors);
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = vectors;
  alignas(cmsghdr) char control[kOffloadControl];
  if (!corked_) {  // the first append names the destination and the gso_size (the kernel's cork keeps both)
    message.msg_name = const_cast<sockaddr*>(to.raw());
    message.msg_namelen = to.length;
    set_gso_size(message, control, segment_size);
  }
  ssize_t sent;
  do sent = ::sendmsg(fd_.get(), &message, MSG_DONTWAIT | (push ? 0 : MSG_MORE));
  while (sent < 0 && errno == EINTR);
  const int error = errno;
  counters_.corked_datagrams += out_count_;
  clear_queue();
  if (sent < 0) {
    // udp_sendmsg discards the pending super-packet when an append or the push fails.
    lost += total_segments;
    corked_ = false;
    cork_bytes_ = cork_segments_ = 0;
    if (gso_refusal(error)) refuse_gso(error, segment_size);
    return lost;
  }
  if (push) {
    if (total_segments > 1) {
      ++counters_.gso_sends;
      counters_.gso_segments += total_segments;
    }
    corked_ = false;
    cork_bytes_ = cork_segments_ = 0;
    return lost;
  }
  corked_ = true;
  cork_destination_ = to;
  cork_segment_size_ = segment_size;
  cork_class_ = gso_class;
  cork_bytes_ = total_bytes;
  cork_segments_ = total_segments;
  return lost;
}

std::size_t UdpSocket::push_cork() {
  if (!corked_) return 0;
  const std::size_t segments = cork_segments_;
  corked_ = false;
  cork_bytes_ = cork_segments_ = 0;
  msghdr message{};  // no bytes, no MSG_MORE: the kernel sends what the cork holds
  ssize_t sent;
  do sent = ::sendmsg(fd_.get(), &message, MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    const int error = errno;
    if (gso_refusal(error)) refuse_gso(error, cork_segment_size_);
    return segments;
  }
  if (segments > 1) {
    ++counters_.gso_sends;
    counters_.gso_segments += segments;
  }
  return 0;
}

std::size_t UdpSocket::flush() {
  const std::size_t lost_from_cork = push_cork();
  if (out_count_ == 0) return lost_from_cork;
  batcher_.plan(std::span(out_destinations_.data(), out_count_), std::span(out_lengths_.data(), out_count_),
                gso_limits_, gso_,
                gso_class_ ? std::span<const std::uint8_t>(out_classes_.data(), out_count_) : std::span<const std::uint8_t>());
  // Units still to send; a refused GSO unit is replaced by its datagrams one by one. (A
  // member: its capacity is reused, no allocation per flush.)
  std::vector<GsoBatcher::Unit>& units = units_;
  units.assign(batcher_.units().begin(), batcher_.units().end());
  const std::vector<std::uint32_t>& order = batcher_.order();
  std::size_t failed = 0;
  std::size_t done = 0;
  mmsghdr headers[kBatch];
  iovec iov[2 * kBatch];  // a head and a tail per datagram
  alignas(cmsghdr) char control[kBatch][kOffloadControl];
  while (done < units.size()) {
    const std::size_t count = units.size() - done;
    std::size_t vectors = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const GsoBatcher::Unit& unit = units[done + i];
      msghdr& message = headers[i].msg_hdr;
      headers[i] = {};
      const std::size_t first_slot = order[unit.first];
      message.msg_name = const_cast<sockaddr*>(out_destinations_[first_slot].raw());
      message.msg_namelen = out_destinations_[first_slot].length;
      message.msg_iov = &iov[vectors];
      const std::size_t first_vector = vectors;
      // A GSO unit's iovecs are one byte stream to the kernel, cut every segment_size bytes:
      // a datagram split over a head and a tail still becomes one segment.
      for (std::uint32_t k = 0; k < unit.count; ++k) vectors = add_iovecs(out_slots_[order[unit.first + k]], iov, vectors);
      message.msg_iovlen = vectors - first_vector;
      if (unit.segment_size) set_gso_size(message, control[i], unit.segment_size);
    }
    const int sent = ::sendmmsg(fd_.get(), headers, static_cast<unsigned>(count), MSG_DONTWAIT);
    if (sent < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      const GsoBatcher::Unit unit = units[done];
      if (unit.segment_size && gso_refusal(error)) {
        refuse_gso(error, unit.segment_size);
        std::vector<GsoBatcher::Unit> singles;
        for (std::uint32_t k = 0; k < unit.count; ++k) singles.push_back({unit.first + k, 1, 0});
        units.erase(units.begin() + static_cast<std::ptrdiff_t>(done));
        units.insert(units.begin() + static_cast<std::ptrdiff_t>(done), singles.begin(), singles.end());
        continue;
      }
      // The failing datagrams are dropped (the reliability layer recovers them); go on with the rest.
      failed += unit.count;
      ++done;
      continue;
    }
    for (int i = 0; i < sent; ++i)
      if (units[done + i].segment_size) {
        ++counters_.gso_sends;
        counters_.gso_segments += units[done + i].count;
      }
    done += static_cast<std::size_t>(sent);
  }
  clear_queue();
  return failed + lost_from_cork;
}

// EIO: the route cannot checksum-offload (a GSO send needs CHECKSUM_PARTIAL) — never again.
// EINVAL (Linux < 6.x) or EMSGSIZE: the gso_size exceeds the path MTU (a packet sized for
// IPv4 sent over IPv6, a manifest mtu above the link's): only smaller segments are tried from
// now on; after kMaxGsoRefusals such refusals GSO is off for good.
void UdpSocket::refuse_gso(int error, std::size_t segment_size) {
  if ((error == EINVAL || error == EMSGSIZE) && ++gso_refusals_ < kMaxGsoRefusals && segment_size > 1) {
    gso_limits_.max_segment_size = std::min(gso_limits_.max_segment_size, segment_size - 1);
    SPDLOG_DEBUG("udp socket {}: kernel refused UDP GSO of {} B segments ({}); sending those one by one",
                 local_address().to_string(), segment_size, std::strerror(error));
    return;
  }
  gso_ = false;
  SPDLOG_DEBUG("udp socket {}: kernel refused UDP GSO ({}); datagrams leave one by one from now on",
               local_address().to_string(), std::strerror(error));
}

namespace {
// One receive arena per thread (every socket of a runtime is read by its one thread). The
// headers point into it once and for all; recvmmsg only writes msg_len, msg_flags,
// msg_namelen and msg_controllen, so a receive only resets those two lengths of the slots it
// used. Every slot holds kMaxDatagram: a UDP_GRO datagram may be up to 64 KiB of coalesced
// segments.
struct ReceiveBuffers {
  // Left uninitialised (not a zero-filled vector): the kernel maps the 4 MiB lazily, so a
  // thread that receives small datagrams only makes the pages it writes resident (with GRO, a
  // bulk receiver may touch all of it: 4 MiB per runtime thread).
  std::unique_ptr<std::byte[]> data{new std::byte[UdpSocket::kBatch * UdpSocket::kMaxDatagram]};
  mmsghdr headers[UdpSocket::kBatch];
  iovec iov[UdpSocket::kBatch];
  sockaddr_storage sources[UdpSocket::kBatch];
  alignas(cmsghdr) char control[UdpSocket::kBatch][kOffloadControl];

  ReceiveBuffers() {
    for (std::size_t i = 0; i < UdpSocket::kBatch; ++i) {
      iov[i] = {data.get() + i * UdpSocket::kMaxDatagram, UdpSocket::kMaxDatagram};
      headers[i] = {};
      headers[i].msg_hdr.msg_name = &sources[i];
      headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      headers[i].msg_hdr.msg_iov = &iov[i];
      headers[i].msg_hdr.msg_iovlen = 1;
      headers[i].msg_hdr.msg_control = control[i];
      headers[i].msg_hdr.msg_controllen = sizeof control[i];
    }
  }
};

// The UDP_GRO segment size of a received datagram; 0 when it was not coalesced.
std::size_t gro_segment_size(const msghdr& message) {
  if (message.msg_controllen == 0) return 0;
  for (const cmsghdr* header = CMSG_FIRSTHDR(&message); header;
       header = CMSG_NXTHDR(const_cast<msghdr*>(&message), const_cast<cmsghdr*>(header))) {
    if (header->cmsg_level != SOL_UDP || header->cmsg_type != UDP_GRO || header->cmsg_len < CMSG_LEN(sizeof(int)))
      continue;
    int size = 0;
    std::memcpy(&size, CMSG_DATA(header), sizeof size);
    return size > 0 ? static_cast<std::size_t>(size) : 0;
  }
  return 0;
}
}  // namespace

std::size_t UdpSocket::receive_batch(
    const std::function<void(std::span<const std::byte>, const core::SocketAddress&)>& on_datagram) {
  thread_local ReceiveBuffers buffers;
  std::byte* buffer = buffers.data.get();
  auto* headers = buffers.headers;
  auto* sources = buffers.sources;
  const std::size_t limit = receive_limit_;
  int received;
  do received = ::recvmmsg(fd_.get(), headers, static_cast<unsigned>(limit), MSG_DONTWAIT, nullptr);
  while (received < 0 && errno == EINTR);
  last_batch_full_ = received > 0 && static_cast<std::size_t>(received) == limit;
  if (received <= 0) return 0;
  std::size_t bytes = 0;
  for (int i = 0; i < received; ++i) bytes += headers[i].msg_len;
  const std::size_t average = std::max<std::size_t>(1, bytes / static_cast<std::size_t>(received));
  receive_limit_ = std::clamp(kReceiveBatchBytes / average, kMinReceiveBatch, kBatch);
  for (int i = 0; i < received; ++i) {
    msghdr& message = headers[i].msg_hdr;
    const socklen_t source_length = message.msg_namelen;
    message.msg_namelen = sizeof(sockaddr_storage);  // ready for the next call
    const std::size_t segment_size = gro_segment_size(message);
    message.msg_controllen = sizeof buffers.control[i];
    // Unmapped: acks and replies from an IPv4 peer must match the member's AF_INET address when
    // this socket is dual-stack AF_INET6 (a server bound to [::]).
    const auto source =
        core::SocketAddress::from(reinterpret_cast<sockaddr*>(&sources[i]), source_length).without_v4_mapping();
    if (message.msg_flags & MSG_TRUNC) continue;  // larger than any TMC packet (or GRO batch)
    const std::span<const std::byte> datagram(buffer + i * kMaxDatagram, headers[i].msg_len);
    const std::size_t segments =
        split_gro_datagram(datagram, segment_size, [&](std::span<const std::byte> segment) { on_datagram(segment, source); });
    if (segments > 1) {
      ++counters_.gro_receives;
      counters_.gro_segments += segments;
    }
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
      const auto answered =
          core::SocketAddress::from(reinterpret_cast<sockaddr*>(&destination), message.msg_namelen).without_v4_mapping();
      on_error(answered, static_cast<int>(error.ee_errno));
    }
  }
}

}  // namespace tmc::transport
