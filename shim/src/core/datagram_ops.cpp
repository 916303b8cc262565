#include "core/datagram_ops.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/guard.h"
#include "core/log.h"
#include "core/real.h"
#include "core/socket_ops.h"

namespace tmc::shim {

namespace {

std::mutex& datagram_bridge_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
DatagramBridge* datagram_bridge_instance = nullptr;
// $TMC_SHIM_UDP_DIRECT=0 sends every datagram through the socketpair and the bridge thread (the
// path fork children always take): for benchmarking the direct path against it.
bool direct_sends = true;
std::atomic<DatagramBridge*> datagram_bridge_ready{nullptr};  // published once built
int datagram_bridge_pid = 0;

bool is_wildcard(const IpAddress& address) { return address == *parse_ip("0.0.0.0") || address == *parse_ip("::"); }
bool is_multicast(const IpAddress& address) {
  return address.is_v4() ? (address.bytes[12] & 0xf0) == 0xe0 : address.bytes[0] == 0xff;
}
IpAddress wildcard_of(int family) { return *parse_ip(family == AF_INET ? "0.0.0.0" : "::"); }

// The INET family of an AF_INET/AF_INET6 SOCK_DGRAM socket; 0 otherwise.
int inet_datagram_family(int fd) {
  int domain = 0, type = 0;
  socklen_t length = sizeof domain;
  if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return 0;
  if (domain != AF_INET && domain != AF_INET6) return 0;
  length = sizeof type;
  if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_DGRAM) return 0;
  return domain;
}

// The bound address of an INET socket (nullopt when unbound: port 0).
std::optional<InetEndpoint> bound_address(int fd) {
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (TMC_REAL(getsockname)(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return std::nullopt;
  auto endpoint = endpoint_of(reinterpret_cast<sockaddr*>(&bound), length);
  if (!endpoint || endpoint->port == 0) return std::nullopt;
  return endpoint;
}

// Options of the INET socket the AF_UNIX end takes over: SOL_SOCKET ones the new socket holds
// natively, IP-level ones answered from the emulated table (socket_ops getsockopt).
struct CarriedOptions {
  std::vector<std::pair<int, std::vector<char>>> native;  // SOL_SOCKET name -> value
  std::map<std::pair<int, int>, std::vector<char>> emulated;
};

CarriedOptions collect_options(int fd, int family) {
  CarriedOptions carried;
  for (int name : {SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_PRIORITY, SO_RCVTIMEO, SO_SNDTIMEO}) {
    char value[sizeof(timeval)] = {};
    socklen_t length = sizeof value;
    if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, name, value, &length) == 0) {
      carried.native.emplace_back(name, std::vector<char>(value, value + length));
    }
  }
  std::vector<std::pair<int, int>> ip_options;
  if (family == AF_INET) {
    ip_options = {{IPPROTO_IP, IP_TOS}, {IPPROTO_IP, IP_TTL}, {IPPROTO_IP, IP_MULTICAST_TTL},
                  {IPPROTO_IP, IP_MULTICAST_LOOP}};
  } else {
    ip_options = {{IPPROTO_IPV6, IPV6_UNICAST_HOPS}, {IPPROTO_IPV6, IPV6_MULTICAST_HOPS},
                  {IPPROTO_IPV6, IPV6_MULTICAST_LOOP}, {IPPROTO_IPV6, IPV6_V6ONLY}};
  }
  for (auto [level, name] : ip_options) {
    int value = 0;
    socklen_t length = sizeof value;
    if (TMC_REAL(getsockopt)(fd, level, name, &value, &length) == 0) {
      carried.emulated[{level, name}] = std::vector<char>(reinterpret_cast<char*>(&value),
                                                          reinterpret_cast<char*>(&value) + sizeof value);
    }
  }
  return carried;
}

enum class Moment { bind, connect, send, join };

// Puts `rule`'s bridged socket on `fd`. `prebound`: the INET socket already holds `bind_to`'s
// port (it is closed first so the channel can take it). Returns 0 or an errno value.
int bridge_socket(int fd, int family, const Rule& rule, InetEndpoint bind_to, InetEndpoint reported_local,
                  bool prebound, std::optional<InetEndpoint> peer, std::shared_ptr<SocketState>* out_state) {
  DatagramBridge* shim_bridge = datagram_bridge();
  if (!shim_bridge) return EAFNOSUPPORT;
  int status_flags = TMC_REAL(fcntl)(fd, F_GETFL);
  int descriptor_flags = TMC_REAL(fcntl)(fd, F_GETFD);
  auto carried = collect_options(fd, family);
  const int cloexec = (descriptor_flags >= 0 && (descriptor_flags & FD_CLOEXEC)) ? O_CLOEXEC : 0;
  if (prebound) {
    // Release the port: a placeholder takes the fd number until the channel is bound.
    int placeholder = TMC_REAL(socket)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (placeholder < 0 || TMC_REAL(dup3)(placeholder, fd, cloexec) < 0) {
      int error = errno;
      if (placeholder >= 0) TMC_REAL(close)(placeholder);
      return error;
    }
    TMC_REAL(close)(placeholder);
  }
  std::shared_ptr<DatagramSocket> socket;
  const Policy& policy = *config().policy;
  auto opened = shim_bridge->open(rule, bind_to, reported_local, policy, &socket);
  if (opened.app_fd < 0 && prebound) {
    // The port went elsewhere meanwhile: an ephemeral one beats losing the socket.
    log_warn("{}: port {} taken, using an ephemeral port", rule.name, bind_to.port);
    bind_to.port = 0;
    reported_local.port = 0;
    opened = shim_bridge->open(rule, bind_to, reported_local, policy, &socket);
  }
  if (opened.app_fd < 0) return opened.error;
  int placed = TMC_REAL(dup3)(opened.app_fd, fd, cloexec);
  int dup_error = errno;
  TMC_REAL(close)(opened.app_fd);
  if (placed < 0) return dup_error;
  if (status_flags >= 0 && (status_flags & O_NONBLOCK)) TMC_REAL(fcntl)(fd, F_SETFL, O_NONBLOCK);
  for (auto& [name, value] : carried.native) {
    TMC_REAL(setsockopt)(fd, SOL_SOCKET, name, value.data(), static_cast<socklen_t>(value.size()));
  }
  auto state = std::make_shared<SocketState>();
  state->kind = SocketState::Kind::datagram;
  state->family = family;
  state->type = SOCK_DGRAM;
  state->protocol = IPPROTO_UDP;
  state->local_length = to_sockaddr(socket->local(), family, &state->local);
  if (peer) {
    state->peer_length = to_sockaddr(*peer, family, &state->peer);
    shim_bridge->set_peer(*socket, peer);
  }
  state->rule = &rule;
  state->owner_pid = current_pid();
  state->datagram = socket;
  state->emulated_options = std::move(carried.emulated);
  FdTable::set(fd, state, kDatagramFlag);
  if (out_state) *out_state = state;
  log_debug("fd {}: {} {} matched rule {}", fd, to_string(rule.role), socket->local().to_string(), rule.name);
  return 0;
}

// The record header's address as the application's family sees it.
void write_source(const DatagramHeader& header, int family, sockaddr* name, socklen_t* name_length) {
  if (!name_length) return;
  if (!header.has_address) {
    *name_length = 0;
    return;
  }
  sockaddr_storage storage;
  socklen_t actual = to_sockaddr(header.endpoint(), family, &storage);
  copy_out(storage, actual, name, name_length);
}

std::optional<InetEndpoint> destination_of(const SocketState& state, const void* name, socklen_t length, int* error) {
  if (name && length > 0) {
    auto destination = endpoint_of(static_cast<const sockaddr*>(name), length);
    if (!destination) {
      *error = static_cast<const sockaddr*>(name)->sa_family == AF_UNSPEC ? EDESTADDRREQ : EAFNOSUPPORT;
      return std::nullopt;
    }
    if (state.family == AF_INET && !destination->address.is_v4()) {
      *error = EAFNOSUPPORT;
      return std::nullopt;
    }
    return destination;
  }
  auto peer = state.datagram ? state.datagram->peer() : std::nullopt;
  if (!peer) *error = EDESTADDRREQ;
  return peer;
}

}  // namespace

DatagramBridge* datagram_bridge() {
  // Every send takes this path: no lock or system call once the bridge exists in this process.
  if (auto* instance = datagram_bridge_ready.load(std::memory_order_acquire);
      instance && datagram_bridge_pid == current_pid()) {
    return instance;
  }
  std::lock_guard lock(datagram_bridge_mutex());
  if (!datagram_bridge_instance || datagram_bridge_pid != current_pid()) {
    auto factory = process_factory();
    if (!factory) return nullptr;
    ShimScope scope;
    datagram_bridge_instance = new DatagramBridge(std::move(factory), DatagramBridge::Options{});
    datagram_bridge_pid = current_pid();
    datagram_bridge_ready.store(datagram_bridge_instance, std::memory_order_release);
  }
  return datagram_bridge_instance;
}

void datagram_after_fork_child() {
  // Runs in the child with no other thread alive: the parent's bridge is leaked on purpose.
  datagram_bridge_ready.store(nullptr);
  if (datagram_bridge_instance) {
    datagram_bridge_instance->abandon_after_fork();
    datagram_bridge_instance = nullptr;
  }
}

namespace datagram {

void configure(const Policy* policy) {
  const char* direct = std::getenv("TMC_SHIM_UDP_DIRECT");
  direct_sends = !(direct && std::strcmp(direct, "0") == 0);
  bool senders = false;
  if (policy) {
    for (const auto& rule : policy->rules) senders = senders || rule.role == Role::udp_sender;
  }
  classify_sends = senders;
}

std::optional<int> bind(int fd, const sockaddr* address, socklen_t length) {
  const auto& configuration = config();
  if (inside_shim() || !configuration.policy) return std::nullopt;
  if (is_bridged_datagram(fd)) {
    errno = EINVAL;  // already bound (a bridged socket always is)
    return -1;
  }
  if (FdTable::managed(fd)) return std::nullopt;
  auto local = endpoint_of(address, length);
  if (!local) return std::nullopt;
  const Rule* rule = configuration.policy->match(Role::udp_receiver, *local, configuration.program);
  if (!rule) return std::nullopt;
  const int saved_errno = errno;
  int family = inet_datagram_family(fd);
  if (family == 0) {
    errno = saved_errno;
    return std::nullopt;
  }
  if (bound_address(fd)) {
    errno = EINVAL;
    return -1;
  }
  // A socket bound to a multicast address receives that group on its port; its channel binds the
  // wildcard (a socket bound to a group address cannot send) and getsockname shows the group.
  InetEndpoint bind_to = *local;
  if (is_multicast(local->address)) bind_to.address = wildcard_of(family);
  int error = bridge_socket(fd, family, *rule, bind_to, *local, false, std::nullopt, nullptr);
  if (error != 0) {
    errno = error;
    return -1;
  }
  errno = saved_errno;
  return 0;
}

std::optional<int> connect(int fd, const sockaddr* address, socklen_t length) {
  const auto& configuration = config();
  if (inside_shim() || !configuration.policy) return std::nullopt;
  if (is_bridged_datagram(fd)) {
    auto state = FdTable::get(fd);
    DatagramBridge* shim_bridge = datagram_bridge();
    if (!state || !state->datagram || !shim_bridge) return std::nullopt;
    if (address && length >= sizeof(sa_family_t) && address->sa_family == AF_UNSPEC) {
      shim_bridge->set_peer(*state->datagram, std::nullopt);  // dissolve the association (UDP)
      state->peer_length = 0;
      return 0;
    }
    auto peer = endpoint_of(address, length);
    if (!peer) {
      errno = EAFNOSUPPORT;
      return -1;
    }
    shim_bridge->set_peer(*state->datagram, *peer);
    state->peer_length = to_sockaddr(*peer, state->family, &state->peer);
    return 0;
  }
  if (FdTable::managed(fd)) return std::nullopt;
  auto destination = endpoint_of(address, length);
  if (!destination) return std::nullopt;
  const Rule* rule = configuration.policy->match(Role::udp_sender, *destination, configuration.program);
  if (!rule) return std::nullopt;
  const int saved_errno = errno;
  int family = inet_datagram_family(fd);
  if (family == 0) {
    errno = saved_errno;
    return std::nullopt;
  }
  auto bound = bound_address(fd);
  InetEndpoint bind_to = bound ? *bound : InetEndpoint{wildcard_of(family), 0};
  InetEndpoint reported = bind_to;
  if (is_wildcard(reported.address) && !DatagramBridge::is_group_destination(*rule, *destination)) {
    reported.address = route_source(*destination);  // a connected UDP socket reports its route's source
  }
  int error = bridge_socket(fd, family, *rule, bind_to, reported, bound.has_value(), *destination, nullptr);
  if (error != 0) {
    errno = error;
    return -1;
  }
  errno = saved_errno;
  return 0;
}

bool classify_for_send(int fd, const sockaddr* destination_address, socklen_t length) {
  const auto& configuration = config();
  if (inside_shim() || !configuration.policy || !destination_address || FdTable::managed(fd)) return false;
  auto destination = endpoint_of(destination_address, length);
  if (!destination) return false;
  const Rule* rule = configuration.policy->match(Role::udp_sender, *destination, configuration.program);
  if (!rule) return false;
  ErrnoSaver saved;
  int family = inet_datagram_family(fd);
  if (family == 0) return false;
  auto bound = bound_address(fd);
  InetEndpoint bind_to = bound ? *bound : InetEndpoint{wildcard_of(family), 0};
  int error = bridge_socket(fd, family, *rule, bind_to, bind_to, bound.has_value(), std::nullopt, nullptr);
  if (error != 0) {
    log_warn("fd {}: cannot bridge UDP socket for {}: {}", fd, destination->to_string(), std::strerror(error));
    return false;
  }
  return true;
}

std::optional<int> setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  const auto& configuration = config();
  if (inside_shim() || !configuration.policy) return std::nullopt;
  bool join = (level == IPPROTO_IP && name == IP_ADD_MEMBERSHIP) || (level == IPPROTO_IPV6 && name == IPV6_JOIN_GROUP);
  if (!join) return std::nullopt;
  if (!value) {
    errno = EFAULT;
    return -1;
  }
  IpAddress group;
  if (level == IPPROTO_IP) {
    if (length < static_cast<socklen_t>(sizeof(ip_mreq))) {
      errno = EINVAL;
      return -1;
    }
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_addr = static_cast<const ip_mreq*>(value)->imr_multiaddr;
    group = endpoint_of(reinterpret_cast<sockaddr*>(&v4), sizeof v4)->address;
  } else {
    if (length < static_cast<socklen_t>(sizeof(ipv6_mreq))) {
      errno = EINVAL;
      return -1;
    }
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_addr = static_cast<const ipv6_mreq*>(value)->ipv6mr_multiaddr;
    group = endpoint_of(reinterpret_cast<sockaddr*>(&v6), sizeof v6)->address;
  }
  std::shared_ptr<SocketState> state;
  if (is_bridged_datagram(fd)) {
    state = FdTable::get(fd);
  } else {
    if (FdTable::managed(fd)) return std::nullopt;
    const int saved_errno = errno;
    auto bound = bound_address(fd);
    if (!bound) return std::nullopt;  // the kernel answers as it does for an unbound socket
    const Rule* rule =
        configuration.policy->match(Role::udp_receiver, InetEndpoint{group, bound->port}, configuration.program);
    if (!rule) return std::nullopt;
    int family = inet_datagram_family(fd);
    if (family == 0) return std::nullopt;
    InetEndpoint bind_to = *bound;
    if (is_multicast(bind_to.address)) bind_to.address = wildcard_of(family);
    int error = bridge_socket(fd, family, *rule, bind_to, *bound, true, std::nullopt, &state);
    if (error != 0) {
      errno = error;
      return -1;
    }
    errno = saved_errno;
  }
  if (!state || !state->datagram) return std::nullopt;
  InetEndpoint group_endpoint{group, state->datagram->local().port};
  int error = datagram_bridge()->join_group(*state->datagram, group_endpoint.to_string());
  if (error != 0) {
    errno = error;
    return -1;
  }
  return 0;
}

ssize_t send_message(int fd, const msghdr* message, int flags) {
  auto state = FdTable::get(fd);
  if (!state || !state->datagram) return TMC_REAL(sendmsg)(fd, message, flags);
  int error = 0;
  auto destination = destination_of(*state, message->msg_name, message->msg_namelen, &error);
  if (!destination) {
    errno = error;
    return -1;
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(message->msg_iovlen); ++i) total += message->msg_iov[i].iov_len;
  if (total > kMaxUdpPayload) {
    errno = EMSGSIZE;
    return -1;
  }
  if (message->msg_iovlen + 1 > IOV_MAX) {
    errno = EMSGSIZE;
    return -1;
  }
  if (state->owner_pid == current_pid() && direct_sends) {
    if (DatagramBridge* shim_bridge = datagram_bridge()) {
      // Direct to the channel (datagram_bridge.h): one contiguous payload.
      static thread_local std::vector<std::byte> gathered;
      std::span<const std::byte> payload;
      if (message->msg_iovlen == 1) {
        payload = {static_cast<const std::byte*>(message->msg_iov[0].iov_base), message->msg_iov[0].iov_len};
      } else {
        gathered.clear();
        for (std::size_t i = 0; i < static_cast<std::size_t>(message->msg_iovlen); ++i) {
          auto* base = static_cast<const std::byte*>(message->msg_iov[i].iov_base);
          gathered.insert(gathered.end(), base, base + message->msg_iov[i].iov_len);
        }
        payload = gathered;
      }
      if (shim_bridge->send_direct(state->datagram, *destination, payload)) return static_cast<ssize_t>(total);
      DatagramBridge::note_queued(*state->datagram);
    }
  }
  auto header = DatagramHeader::of(*destination);
  iovec stack_parts[16];
  std::vector<iovec> heap_parts;
  iovec* parts = stack_parts;
  if (message->msg_iovlen + 1 > 16) {
    heap_parts.resize(message->msg_iovlen + 1);
    parts = heap_parts.data();
  }
  parts[0] = {&header, sizeof header};
  for (std::size_t i = 0; i < static_cast<std::size_t>(message->msg_iovlen); ++i) parts[i + 1] = message->msg_iov[i];
  msghdr record{};
  record.msg_iov = parts;
  record.msg_iovlen = message->msg_iovlen + 1;
  // Ancillary data (IP_PKTINFO, UDP_SEGMENT...) has no meaning on the channel: not passed on.
  ssize_t written = TMC_REAL(sendmsg)(fd, &record, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
  if (written < 0 && state->owner_pid == current_pid()) DatagramBridge::note_unqueued(*state->datagram);
  if (written < 0) {
    if (errno == EPIPE || errno == ECONNRESET) errno = ENOBUFS;  // the bridge is gone (process teardown)
    return -1;
  }
  return written - static_cast<ssize_t>(sizeof header);
}

ssize_t send_buffer(int fd, const void* buffer, std::size_t length, int flags, const sockaddr* destination,
                    socklen_t destination_length) {
  iovec part{const_cast<void*>(buffer), length};
  msghdr message{};
  message.msg_name = const_cast<sockaddr*>(destination);
  message.msg_namelen = destination ? destination_length : 0;
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  return send_message(fd, &message, flags);
}

ssize_t receive_message(int fd, msghdr* message, int flags) {
  auto state = FdTable::get(fd);
  if (!state || !state->datagram) return TMC_REAL(recvmsg)(fd, message, flags);
  if (flags & MSG_ERRQUEUE) {
    errno = EAGAIN;  // no ICMP errors come through a channel
    return -1;
  }
  DatagramHeader header;
  iovec stack_parts[16];
  std::vector<iovec> heap_parts;
  iovec* parts = stack_parts;
  if (message->msg_iovlen + 1 > 16) {
    heap_parts.resize(message->msg_iovlen + 1);
    parts = heap_parts.data();
  }
  parts[0] = {&header, sizeof header};
  for (std::size_t i = 0; i < static_cast<std::size_t>(message->msg_iovlen); ++i) parts[i + 1] = message->msg_iov[i];
  for (;;) {
    msghdr record{};
    record.msg_iov = parts;
    record.msg_iovlen = message->msg_iovlen + 1;
    ssize_t count = TMC_REAL(recvmsg)(fd, &record, flags & (MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC));
    if (count < 0) return -1;
    if (count == 0) {
      // The bridge closed its end (process teardown): nothing will arrive any more.
      message->msg_namelen = 0;
      message->msg_controllen = 0;
      message->msg_flags = 0;
      return 0;
    }
    if (static_cast<std::size_t>(count) < sizeof header || header.magic != DatagramHeader::kMagic) {
      if (flags & MSG_PEEK) {
        errno = EAGAIN;
        return -1;
      }
      continue;  // not a record of the bridge's: dropped
    }
    write_source(header, state->family, static_cast<sockaddr*>(message->msg_name), &message->msg_namelen);
    message->msg_controllen = 0;
    message->msg_flags = record.msg_flags & (MSG_TRUNC);
    return count - static_cast<ssize_t>(sizeof header);
  }
}

ssize_t receive_buffer(int fd, void* buffer, std::size_t length, int flags, sockaddr* source, socklen_t* source_length) {
  iovec part{buffer, length};
  msghdr message{};
  message.msg_name = source;
  message.msg_namelen = source && source_length ? *source_length : 0;
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  ssize_t count = receive_message(fd, &message, flags);
  if (count >= 0 && source_length) *source_length = source ? message.msg_namelen : 0;
  if (count >= 0 && source && source_length && message.msg_namelen == 0) *source_length = 0;
  return count;
}

int receive_messages(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout) {
  (void)timeout;  // like the kernel's, checked only between datagrams; the first blocks as recvmsg does
  unsigned received = 0;
  int status_flags = TMC_REAL(fcntl)(fd, F_GETFL);
  bool nonblocking = status_flags >= 0 && (status_flags & O_NONBLOCK);
  for (; received < count; ++received) {
    int call_flags = flags & ~MSG_WAITFORONE;
    if (received > 0 && ((flags & MSG_WAITFORONE) || nonblocking || timeout)) call_flags |= MSG_DONTWAIT;
    ssize_t result = receive_message(fd, &messages[received].msg_hdr, call_flags);
    if (result < 0) {
      if (received == 0) return -1;
      break;
    }
    messages[received].msg_len = static_cast<unsigned>(result);
  }
  return static_cast<int>(received);
}

std::optional<int> shutdown(int fd, int how) {
  if (!is_bridged_datagram(fd) || inside_shim()) return std::nullopt;
  auto state = FdTable::get(fd);
  if (!state || !state->datagram) return std::nullopt;
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
    errno = EINVAL;
    return -1;
  }
  if (!state->datagram->peer()) {
    errno = ENOTCONN;
    return -1;
  }
  return 0;
}

std::optional<int> ioctl(int fd, unsigned long request, void* argument) {
  if (!is_bridged_datagram(fd) || inside_shim() || request != FIONREAD) return std::nullopt;
  DatagramHeader header;
  ssize_t count = TMC_REAL(recv)(fd, &header, sizeof header, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
  int size = count > static_cast<ssize_t>(sizeof header) ? static_cast<int>(count - sizeof header) : 0;
  if (!argument) {
    errno = EFAULT;
    return -1;
  }
  *static_cast<int*>(argument) = size;
  return 0;
}

}  // namespace datagram
}  // namespace tmc::shim
