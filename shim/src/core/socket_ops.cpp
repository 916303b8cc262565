#include "core/socket_ops.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

#include "core/datagram_ops.h"
#include "core/guard.h"
#include "core/log.h"

extern char** environ;

namespace tmc::shim {

namespace {

ShimConfig& mutable_config() {
  static auto* instance = new ShimConfig;  // never destroyed (calls arrive during exit)
  return *instance;
}

std::mutex& bridge_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
Bridge* bridge_instance = nullptr;
int bridge_pid = 0;

// SOCK_STREAM etc. of an INET socket; -1 when not a socket or not INET.
bool inet_stream_socket(int fd, int* family) {
  int domain = 0, type = 0;
  socklen_t length = sizeof domain;
  if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return false;
  if (domain != AF_INET && domain != AF_INET6) return false;
  length = sizeof type;
  if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) return false;
  *family = domain;
  return true;
}

// Whether another process still holds the abstract AF_UNIX listener `name` (/proc/net/unix).
bool abstract_socket_in_use(const std::string& name) {
  std::ifstream table("/proc/net/unix");
  std::string line, needle = "@" + name;
  while (std::getline(table, line)) {
    auto at = line.rfind(' ');
    if (at != std::string::npos && line.compare(at + 1, std::string::npos, needle) == 0) return true;
  }
  return false;
}

// SO_SNDBUF and SO_RCVBUF of `fd` where they differ from a fresh (family, SOCK_STREAM) socket's,
// i.e. where the application set them; halved, as setsockopt() takes them (getsockopt reports
// twice the size asked for, socket(7)). 0: the default.
using BufferSizes = std::array<int, 2>;
BufferSizes requested_buffer_sizes(int fd, int family) {
  BufferSizes sizes{0, 0};
  int fresh = TMC_REAL(socket)(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fresh < 0) return sizes;
  const int names[2] = {SO_SNDBUF, SO_RCVBUF};
  for (int i = 0; i < 2; ++i) {
    int set = 0, initial = 0;
    socklen_t set_length = sizeof set, initial_length = sizeof initial;
    if (TMC_REAL(getsockopt)(fd, SOL_SOCKET, names[i], &set, &set_length) == 0 &&
        TMC_REAL(getsockopt)(fresh, SOL_SOCKET, names[i], &initial, &initial_length) == 0 && set != initial) {
      sizes[i] = set / 2;
    }
  }
  TMC_REAL(close)(fresh);
  return sizes;
}
void apply_buffer_sizes(int fd, const BufferSizes& sizes) {
  if (sizes[0] > 0) TMC_REAL(setsockopt)(fd, SOL_SOCKET, SO_SNDBUF, &sizes[0], sizeof sizes[0]);
  if (sizes[1] > 0) TMC_REAL(setsockopt)(fd, SOL_SOCKET, SO_RCVBUF, &sizes[1], sizeof sizes[1]);
}

void restore_send_buffer(int fd, SocketState& state) {
  if (!state.restore_send_buffer.exchange(false)) return;
  // Undo the small SO_SNDBUF a nonblocking connect used to hold POLLOUT back (to what the
  // application asked for before connect, else the default).
  int size = 212992;  // net.core.wmem_default on Linux
  if (state.send_buffer_request > 0) size = state.send_buffer_request;
  else std::ifstream("/proc/sys/net/core/wmem_default") >> size;
  TMC_REAL(setsockopt)(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  FdTable::remove_flags(fd, kAttentionFlag);
}

}  // namespace

// getpid() is a system call; the hot path reads this instead (set again in a fork child).
std::atomic<int> cached_pid{0};
int current_pid() {
  int pid = cached_pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = ::getpid();
    cached_pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

// Writes `endpoint` as the application's family would see it (IPv4-mapped for AF_INET6).
socklen_t to_sockaddr(const InetEndpoint& endpoint, int family, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (family == AF_INET && endpoint.address.is_v4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(out);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(endpoint.port);
    std::memcpy(&v4->sin_addr, endpoint.address.bytes.data() + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(endpoint.port);
  std::memcpy(&v6->sin6_addr, endpoint.address.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

// Copies a sockaddr out with getsockname() truncation semantics.
void copy_out(const sockaddr_storage& address, socklen_t actual, sockaddr* out, socklen_t* length) {
  if (!length) return;
  if (out) std::memcpy(out, &address, std::min(*length, actual));
  *length = actual;
}

// The local address the kernel would pick to reach `destination` (a UDP connect() sets no
// packets on the wire). Falls back to the wildcard.
IpAddress route_source(const InetEndpoint& destination) {
  IpAddress wildcard = *parse_ip(destination.address.is_v4() ? "0.0.0.0" : "::");
  int family = destination.address.is_v4() ? AF_INET : AF_INET6;
  int probe = TMC_REAL(socket)(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return wildcard;
  sockaddr_storage target;
  socklen_t target_length = to_sockaddr(destination, family, &target);
  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  IpAddress result = wildcard;
  if (TMC_REAL(connect)(probe, reinterpret_cast<sockaddr*>(&target), target_length) == 0 &&
      TMC_REAL(getsockname)(probe, reinterpret_cast<sockaddr*>(&local), &local_length) == 0) {
    if (auto endpoint = endpoint_of(reinterpret_cast<sockaddr*>(&local), local_length)) result = endpoint->address;
  }
  TMC_REAL(close)(probe);
  return result;
}

void configure(ShimConfig config) {
  mutable_config() = std::move(config);
  datagram::configure(mutable_config().policy);
}
const ShimConfig& config() { return mutable_config(); }

std::shared_ptr<ChannelFactory> process_factory() {
  static auto* mutex = new std::mutex;
  static auto* factory = new std::shared_ptr<ChannelFactory>;
  static int factory_pid = 0;
  std::lock_guard lock(*mutex);
  auto& configuration = mutable_config();
  if (!configuration.make_factory) return nullptr;
  if (!*factory || factory_pid != ::getpid()) {
    if (*factory && factory_pid != ::getpid()) new std::shared_ptr<ChannelFactory>(std::move(*factory));  // the parent's: leaked (its threads are gone)
    ShimScope scope;
    *factory = configuration.make_factory();
    factory_pid = ::getpid();
  }
  return *factory;
}

Bridge* bridge() {
  std::lock_guard lock(bridge_mutex());
  if (!bridge_instance || bridge_pid != ::getpid()) {
    auto& configuration = mutable_config();
    if (!configuration.make_factory) return nullptr;
    ShimScope scope;
    bridge_instance = new Bridge(process_factory(), configuration.bridge_options);
    bridge_pid = ::getpid();
  }
  return bridge_instance;
}

void before_fork() {
  bridge_mutex().lock();
  fd_table_mutex().lock();
}

void after_fork_parent() {
  fd_table_mutex().unlock();
  bridge_mutex().unlock();
}

void after_fork_child() {
  cached_pid.store(::getpid(), std::memory_order_relaxed);
  fd_table_mutex().unlock();
  bridge_mutex().unlock();
  // The parent's bridge and engine threads do not exist here. Their fds (engine ends of the
  // socketpairs, channel sockets, epoll, eventfds) must not stay open in the child, or the
  // application would never see EOF on connections the parent's bridge closes.
  if (bridge_instance) {
    bridge_instance->abandon_after_fork();
    bridge_instance = nullptr;  // leaked on purpose: destroying it would join dead threads
  }
  datagram_after_fork_child();
  for (int fd : FdTable::internal_fds()) TMC_REAL(close)(fd);
  FdTable::forget_internal();
}

namespace ops {

int socket(int domain, int type, int protocol) {
  int fd = TMC_REAL(socket)(domain, type, protocol);
  if (fd >= 0 && inside_shim()) FdTable::mark_internal(fd);
  return fd;
}

int connect(int fd, const sockaddr* address, socklen_t length) {
  const auto& configuration = config();
  if (inside_shim() || !configuration.policy) return TMC_REAL(connect)(fd, address, length);
  if (auto handled = datagram::connect(fd, address, length)) return *handled;  // udp-sender
  if (FdTable::managed(fd)) {
    auto state = FdTable::get(fd);
    if (state && state->kind != SocketState::Kind::datagram) {
      auto connection = state->connection;
      if (state->kind == SocketState::Kind::stream_listener) {
        errno = EINVAL;
        return -1;
      }
      if (connection && connection->state() == Connection::State::connecting) {
        errno = EALREADY;
        return -1;
      }
      if (connection && connection->state() == Connection::State::failed) {
        errno = connection->error();
        return -1;
      }
      if (state->kind == SocketState::Kind::stream_connecting) {
        // Linux: the first connect() after a nonblocking connect completed returns 0.
        state->kind = SocketState::Kind::stream_connected;
        return 0;
      }
      errno = EISCONN;
      return -1;
    }
    return TMC_REAL(connect)(fd, address, length);
  }
  auto destination = endpoint_of(address, length);
  int family = 0;
  if (!destination) return TMC_REAL(connect)(fd, address, length);
  const int saved_errno = errno;
  auto pass = [&] {
    errno = saved_errno;
    return TMC_REAL(connect)(fd, address, length);
  };
  if (!inet_stream_socket(fd, &family)) return pass();
  const Rule* rule = configuration.policy->match(Role::tcp_client, *destination, configuration.program);
  if (!rule) return pass();
  Bridge* shim_bridge = bridge();
  if (!shim_bridge) return pass();
  auto fail_with = [](int error) {
    errno = error;
    return -1;
  };

  int status_flags = TMC_REAL(fcntl)(fd, F_GETFL);
  int descriptor_flags = TMC_REAL(fcntl)(fd, F_GETFD);
  bool nonblocking = status_flags >= 0 && (status_flags & O_NONBLOCK);
  // Options the application already set that the AF_UNIX socket cannot hold natively.
  auto state = std::make_shared<SocketState>();
  for (int option : {TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT}) {
    int value = 0;
    socklen_t value_length = sizeof value;
    if (TMC_REAL(getsockopt)(fd, IPPROTO_TCP, option, &value, &value_length) == 0) {
      state->emulated_options[{IPPROTO_TCP, option}] = std::vector<char>(reinterpret_cast<char*>(&value),
                                                                          reinterpret_cast<char*>(&value) + sizeof value);
    }
  }
  // SO_SNDBUF / SO_RCVBUF the application set before connect() (iperf3 -w reads them back
  // after it) move to the socketpair end.
  const BufferSizes buffer_requests = requested_buffer_sizes(fd, family);
  state->send_buffer_request = buffer_requests[0];
  // A socket bound before connect() keeps its local address.
  IpAddress local_ip = route_source(*destination);
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (TMC_REAL(getsockname)(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0) {
    auto endpoint = endpoint_of(reinterpret_cast<sockaddr*>(&bound), bound_length);
    if (endpoint && endpoint->port != 0 && endpoint->address != *parse_ip("0.0.0.0") && endpoint->address != *parse_ip("::")) {
      local_ip = endpoint->address;
    }
  }

  std::shared_ptr<Connection> connection;
  auto opened = shim_bridge->connect(*rule, *destination, local_ip, nonblocking, &connection);
  if (opened.app_fd < 0) return fail_with(opened.error);
  int placed = TMC_REAL(dup3)(opened.app_fd, fd, (descriptor_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
  int dup_error = errno;
  TMC_REAL(close)(opened.app_fd);
  if (placed < 0) return fail_with(dup_error);
  if (nonblocking) TMC_REAL(fcntl)(fd, F_SETFL, status_flags);
  // (Nonblocking: SO_SNDBUF stays small until the handshake ends; restore_send_buffer applies it.)
  apply_buffer_sizes(fd, nonblocking ? BufferSizes{0, buffer_requests[1]} : buffer_requests);
  state->kind = SocketState::Kind::stream_connecting;
  state->family = family;
  state->type = SOCK_STREAM;
  state->protocol = IPPROTO_TCP;
  state->local_length = to_sockaddr(connection->local(), family, &state->local);
  state->peer_length = to_sockaddr(*destination, family, &state->peer);
  state->rule = rule;
  state->owner_pid = ::getpid();
  state->connection = connection;
  std::uint8_t extra = kDirectSendFlag | (rule->framing == Framing::send_call ? kSendCallFlag : 0);
  if (nonblocking) {
    state->restore_send_buffer = true;
    extra |= kAttentionFlag;
  }
  FdTable::set(fd, state, extra);
  log_debug("fd {}: tcp-client {} matched rule {}", fd, destination->to_string(), rule->name);
  if (nonblocking) return fail_with(EINPROGRESS);
  int error = shim_bridge->wait_connected(*connection);
  if (error != 0) return fail_with(error);
  state->kind = SocketState::Kind::stream_connected;
  errno = saved_errno;
  return 0;
}

int listen(int fd, int backlog) {
  const auto& configuration = config();
  if (is_bridged_datagram(fd) && !inside_shim()) {
    errno = EOPNOTSUPP;  // as for a UDP socket (the AF_UNIX end behind it could listen)
    return -1;
  }
  if (inside_shim() || !configuration.policy || FdTable::managed(fd)) return TMC_REAL(listen)(fd, backlog);
  const int saved_errno = errno;
  auto pass = [&] {
    errno = saved_errno;
    return TMC_REAL(listen)(fd, backlog);
  };
  auto fail_with = [](int error) {
    errno = error;
    return -1;
  };
  int family = 0;
  if (!inet_stream_socket(fd, &family)) return pass();
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (TMC_REAL(getsockname)(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) return pass();
  auto local = endpoint_of(reinterpret_cast<sockaddr*>(&bound), bound_length);
  if (!local || local->port == 0) {
    // listen() without bind(): let the kernel pick the port first, as TCP does.
    int result = pass();
    if (result != 0) return result;
    bound_length = sizeof bound;
    TMC_REAL(getsockname)(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    local = endpoint_of(reinterpret_cast<sockaddr*>(&bound), bound_length);
    if (!local) {
      errno = saved_errno;
      return 0;
    }
  }
  const Rule* rule = configuration.policy->match(Role::tcp_server, *local, configuration.program);
  if (!rule) return pass();
  Bridge* shim_bridge = bridge();
  if (!shim_bridge) return pass();
  int status_flags = TMC_REAL(fcntl)(fd, F_GETFL);
  int descriptor_flags = TMC_REAL(fcntl)(fd, F_GETFD);
  const BufferSizes buffer_requests = requested_buffer_sizes(fd, family);  // accepted sockets inherit them
  std::shared_ptr<Listener> listener;
  auto opened = shim_bridge->listen(*rule, *local, backlog, &listener);
  if (opened.app_fd < 0) return fail_with(opened.error);
  // Keep the INET socket (bound, not listening) as an internal fd: the TCP port stays
  // reserved, and kernel TCP clients are refused as if nothing listened.
  int reserved = TMC_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
  if (reserved >= 0) {
    reserved = move_high_cloexec(reserved);
    listener->reserved_fd = reserved;
  }
  int placed = TMC_REAL(dup3)(opened.app_fd, fd, (descriptor_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
  int dup_error = errno;
  TMC_REAL(close)(opened.app_fd);
  if (placed < 0) {
    shim_bridge->close_listener(listener);
    return fail_with(dup_error);
  }
  if (status_flags >= 0) TMC_REAL(fcntl)(fd, F_SETFL, status_flags);
  apply_buffer_sizes(fd, buffer_requests);
  auto state = std::make_shared<SocketState>();
  state->kind = SocketState::Kind::stream_listener;
  state->family = family;
  state->type = SOCK_STREAM;
  state->protocol = IPPROTO_TCP;
  state->local_length = to_sockaddr(*local, family, &state->local);
  state->rule = rule;
  state->owner_pid = ::getpid();
  state->listener = listener;
  FdTable::set(fd, state);
  log_debug("fd {}: tcp-server {} matched rule {}", fd, local->to_string(), rule->name);
  errno = saved_errno;
  return 0;
}

int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(accept4)(fd, address, length, flags);
  auto listening = FdTable::get(fd);
  if (!listening || listening->kind != SocketState::Kind::stream_listener) {
    return TMC_REAL(accept4)(fd, address, length, flags);
  }
  int accepted = TMC_REAL(accept4)(fd, nullptr, nullptr, flags);
  if (accepted < 0) return accepted;
  ErrnoSaver saved;
  std::uint64_t connection_id = 0;
  auto peer = Bridge::accepted_peer(accepted, &connection_id);
  if (!peer) return accepted;  // not one of the bridge's connections: leave it alone
  // TCP's accepted sockets inherit the listener's buffer sizes; AF_UNIX ones start fresh.
  apply_buffer_sizes(accepted, requested_buffer_sizes(fd, AF_UNIX));
  auto state = std::make_shared<SocketState>();
  state->kind = SocketState::Kind::stream_connected;
  state->family = listening->family;
  state->type = SOCK_STREAM;
  state->protocol = IPPROTO_TCP;
  state->rule = listening->rule;
  auto local = endpoint_of(reinterpret_cast<const sockaddr*>(&listening->local), listening->local_length);
  InetEndpoint local_endpoint = local ? *local : InetEndpoint{};
  if (local_endpoint.address == *parse_ip("0.0.0.0") || local_endpoint.address == *parse_ip("::")) {
    // A wildcard listener: report the address the peer reached, as the kernel would.
    auto route = route_source(*peer);
    if (route != *parse_ip("0.0.0.0") && route != *parse_ip("::")) local_endpoint.address = route;
  }
  state->local_length = to_sockaddr(local_endpoint, listening->family, &state->local);
  state->peer_length = to_sockaddr(*peer, listening->family, &state->peer);
  state->owner_pid = ::getpid();
  std::uint8_t extra = 0;
  if (connection_id != 0) {
    if (Bridge* shim_bridge = bridge()) state->connection = shim_bridge->find(connection_id);
    if (state->connection) extra |= kDirectSendFlag;
    if (state->connection && state->rule && state->rule->framing == Framing::send_call) extra |= kSendCallFlag;
  }
  FdTable::set(accepted, state, extra);
  copy_out(state->peer, state->peer_length, address, length);
  return accepted;
}

int close(int fd) {
  std::uint8_t flags = FdTable::flags(fd);
  if (flags == 0) return TMC_REAL(close)(fd);
  if ((flags & FdTable::kInternal) && !inside_shim()) {
    errno = EBADF;  // the application never had this fd
    return -1;
  }
  if (flags & FdTable::kManaged) {
    auto state = FdTable::get(fd);
    FdTable::clear(fd);
    int result = TMC_REAL(close)(fd);
    if (state && state->listener && state->owner_pid == ::getpid()) {
      // Last copy of the listener gone (here and in any fork child)? Then stop accepting.
      ErrnoSaver saved;
      if (!abstract_socket_in_use(state->listener->unix_name())) {
        if (Bridge* shim_bridge = bridge()) shim_bridge->close_listener(state->listener);
      }
    }
    return result;
  }
  FdTable::clear(fd);
  return TMC_REAL(close)(fd);
}

int close_range(unsigned first, unsigned last, int flags) {
  if (inside_shim() || (flags & CLOSE_RANGE_CLOEXEC)) return TMC_REAL(close_range)(first, last, flags);
  // Skip internal fds; forget managed ones.
  unsigned scan_end = std::min<unsigned>(last, FdTable::kCapacity - 1);
  unsigned range_start = first;
  for (unsigned fd = first; fd <= scan_end && fd >= first; ++fd) {
    std::uint8_t fd_flags = FdTable::flags(static_cast<int>(fd));
    if (fd_flags & FdTable::kInternal) {
      if (fd > range_start && TMC_REAL(close_range)(range_start, fd - 1, flags) != 0) return -1;
      range_start = fd + 1;
    } else if (fd_flags & FdTable::kManaged) {
      FdTable::clear(static_cast<int>(fd));
    }
  }
  if (range_start > last) return 0;
  return TMC_REAL(close_range)(range_start, last, flags);
}

int dup(int fd) {
  int copy = TMC_REAL(dup)(fd);
  if (copy >= 0) {
    if (inside_shim()) {
      FdTable::mark_internal(copy);
    } else if (FdTable::managed(fd)) {
      FdTable::copy(fd, copy);
    }
  }
  return copy;
}

int dup3(int from, int to, int flags, bool is_dup2) {
  if (!inside_shim() && FdTable::internal(to) && from != to) {
    errno = EBADF;  // would replace an engine fd
    return -1;
  }
  int result = is_dup2 ? TMC_REAL(dup2)(from, to) : TMC_REAL(dup3)(from, to, flags);
  if (result >= 0 && from != to) {
    if (inside_shim()) {
      FdTable::mark_internal(to);
    } else {
      FdTable::copy(from, to);
    }
  }
  return result;
}

int fcntl(int fd, int command, long argument, bool is64) {
  auto real = is64 ? TMC_REAL(fcntl64) : TMC_REAL(fcntl);
  int result = real(fd, command, argument);
  if ((command == F_DUPFD || command == F_DUPFD_CLOEXEC) && result >= 0) {
    if (inside_shim()) {
      FdTable::mark_internal(result);
    } else if (FdTable::managed(fd)) {
      FdTable::copy(fd, result);
    }
  }
  return result;
}

int getsockname(int fd, sockaddr* address, socklen_t* length) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(getsockname)(fd, address, length);
  auto state = FdTable::get(fd);
  if (!state) return TMC_REAL(getsockname)(fd, address, length);
  copy_out(state->local, state->local_length, address, length);
  return 0;
}

int getpeername(int fd, sockaddr* address, socklen_t* length) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(getpeername)(fd, address, length);
  auto state = FdTable::get(fd);
  if (!state) return TMC_REAL(getpeername)(fd, address, length);
  if (state->kind == SocketState::Kind::stream_listener ||
      (state->connection && state->connection->state() == Connection::State::connecting) || state->peer_length == 0) {
    errno = ENOTCONN;
    return -1;
  }
  copy_out(state->peer, state->peer_length, address, length);
  return 0;
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* length) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(getsockopt)(fd, level, name, value, length);
  auto state = FdTable::get(fd);
  if (!state) return TMC_REAL(getsockopt)(fd, level, name, value, length);
  auto answer_int = [&](int answer) {
    if (!value || !length) {
      errno = EFAULT;
      return -1;
    }
    int copy = answer;
    socklen_t count = std::min<socklen_t>(*length, sizeof copy);
    std::memcpy(value, &copy, count);
    *length = count;
    return 0;
  };
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_DOMAIN: return answer_int(state->family);
      case SO_TYPE: return answer_int(state->type);
      case SO_PROTOCOL: return answer_int(state->protocol);
      case SO_ACCEPTCONN: return answer_int(state->kind == SocketState::Kind::stream_listener ? 1 : 0);
      case SO_ERROR: {
        restore_send_buffer(fd, *state);
        int error = state->pending_error.exchange(0);
        if (error == 0 && state->connection && state->connection->state() == Connection::State::failed &&
            !state->failure_reported.exchange(true)) {
          error = state->connection->error();  // reported once, like TCP's sk_err
        }
        return answer_int(error);
      }
      default: {
        int result = TMC_REAL(getsockopt)(fd, level, name, value, length);
        if (result == 0 || (errno != ENOPROTOOPT && errno != EOPNOTSUPP)) return result;
        break;
      }
    }
  }
  // TCP/IP-level options: answered from what the application set (or zero).
  std::lock_guard lock(state->options_mutex);
  auto found = state->emulated_options.find({level, name});
  if (found != state->emulated_options.end()) {
    if (!value || !length) {
      errno = EFAULT;
      return -1;
    }
    socklen_t count = std::min<socklen_t>(*length, static_cast<socklen_t>(found->second.size()));
    std::memcpy(value, found->second.data(), count);
    *length = count;
    return 0;
  }
  if (level == IPPROTO_TCP && name == TCP_MAXSEG) return answer_int(1448);
  if (level == IPPROTO_TCP && name == TCP_INFO && value && length) {
    std::memset(value, 0, *length);
    if (*length >= 1) static_cast<unsigned char*>(value)[0] = 1;  // tcpi_state = TCP_ESTABLISHED
    return 0;
  }
  return answer_int(0);
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  if (auto handled = datagram::setsockopt(fd, level, name, value, length)) return *handled;  // IP_ADD_MEMBERSHIP
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(setsockopt)(fd, level, name, value, length);
  auto state = FdTable::get(fd);
  if (!state) return TMC_REAL(setsockopt)(fd, level, name, value, length);
  if (level == SOL_SOCKET) {
    int result = TMC_REAL(setsockopt)(fd, level, name, value, length);
    if (result == 0 || (errno != ENOPROTOOPT && errno != EOPNOTSUPP)) return result;
  }
  if (!value && length > 0) {
    errno = EFAULT;
    return -1;
  }
  std::lock_guard lock(state->options_mutex);
  state->emulated_options[{level, name}] =
      std::vector<char>(static_cast<const char*>(value), static_cast<const char*>(value) + length);
  return 0;
}

ssize_t framed_write(int fd, std::size_t total, const std::function<ssize_t()>& call) {
  auto state = FdTable::get(fd);
  if (!state) return call();
  restore_send_buffer(fd, *state);
  auto connection = state->connection;
  if (!connection || state->owner_pid != current_pid() || !(FdTable::flags(fd) & kSendCallFlag)) return call();
  auto token = connection->begin_write(total);
  ssize_t written = call();
  int saved = errno;
  connection->end_write(token, written);
  errno = saved;
  return written;
}

bool direct_send(int fd, const iovec* data, int count, int flags) {
  if (!(FdTable::flags(fd) & kDirectSendFlag) || inside_shim() || (flags & ~(MSG_NOSIGNAL | MSG_DONTWAIT)) != 0 ||
      count <= 0) {
    return false;
  }
  // Marks the thread as inside the shim before any lock is taken: a signal handler that writes
  // to a bridged socket while this thread is in here takes the kernel path instead of waiting
  // for a lock its own thread holds.
  ShimScope scope;
  auto state = FdTable::get(fd);
  if (!state || !state->connection || state->owner_pid != current_pid() || !state->connection->owner()) return false;
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += data[i].iov_len;
  if (total == 0 || total > static_cast<std::size_t>(SSIZE_MAX)) return false;
  restore_send_buffer(fd, *state);
  return state->connection->owner()->send_direct(state->connection, data, count, total);
}

ssize_t sendto(int fd, const void* buffer, std::size_t length, int flags, const sockaddr* address,
               socklen_t address_length) {
  if (inside_shim()) return TMC_REAL(sendto)(fd, buffer, length, flags, address, address_length);
  if (is_bridged_datagram(fd) || (!FdTable::managed(fd) && classify_sends.load(std::memory_order_relaxed) &&
                                  datagram::classify_for_send(fd, address, address_length))) {
    return datagram::send_buffer(fd, buffer, length, flags, address, address_length);
  }
  if (!FdTable::managed(fd)) return TMC_REAL(sendto)(fd, buffer, length, flags, address, address_length);
  iovec data{const_cast<void*>(buffer), length};
  if (direct_send(fd, &data, 1, flags)) return static_cast<ssize_t>(length);
  // A connected stream socket ignores the destination (TCP does).
  return framed_write(fd, length, [&] { return TMC_REAL(send)(fd, buffer, length, flags); });
}

ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  if (inside_shim()) return TMC_REAL(sendmsg)(fd, message, flags);
  if (is_bridged_datagram(fd) ||
      (!FdTable::managed(fd) && classify_sends.load(std::memory_order_relaxed) &&
       datagram::classify_for_send(fd, static_cast<const sockaddr*>(message->msg_name), message->msg_namelen))) {
    return datagram::send_message(fd, message, flags);
  }
  if (!FdTable::managed(fd)) return TMC_REAL(sendmsg)(fd, message, flags);
  msghdr copy = *message;
  copy.msg_name = nullptr;
  copy.msg_namelen = 0;
  std::size_t total = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(copy.msg_iovlen); ++i) total += copy.msg_iov[i].iov_len;
  if (copy.msg_controllen == 0 && copy.msg_iovlen <= IOV_MAX &&
      direct_send(fd, copy.msg_iov, static_cast<int>(copy.msg_iovlen), flags)) {
    return static_cast<ssize_t>(total);
  }
  return framed_write(fd, total, [&] { return TMC_REAL(sendmsg)(fd, &copy, flags); });
}

int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags) {
  if (inside_shim()) return TMC_REAL(sendmmsg)(fd, messages, count, flags);
  if (!FdTable::managed(fd) && count > 0 && classify_sends.load(std::memory_order_relaxed)) {
    datagram::classify_for_send(fd, static_cast<const sockaddr*>(messages[0].msg_hdr.msg_name),
                                messages[0].msg_hdr.msg_namelen);
  }
  if (!FdTable::managed(fd)) return TMC_REAL(sendmmsg)(fd, messages, count, flags);
  unsigned sent = 0;
  for (; sent < count; ++sent) {
    ssize_t result = ops::sendmsg(fd, &messages[sent].msg_hdr, flags);
    if (result < 0) {
      if (sent == 0) return -1;
      break;
    }
    messages[sent].msg_len = static_cast<unsigned>(result);
  }
  return static_cast<int>(sent);
}

ssize_t recvfrom(int fd, void* buffer, std::size_t length, int flags, sockaddr* address, socklen_t* address_length) {
  if (!FdTable::managed(fd) || inside_shim()) {
    return TMC_REAL(recvfrom)(fd, buffer, length, flags, address, address_length);
  }
  if (is_bridged_datagram(fd)) return datagram::receive_buffer(fd, buffer, length, flags, address, address_length);
  ssize_t result = TMC_REAL(recvfrom)(fd, buffer, length, flags, nullptr, nullptr);
  if (result >= 0 && address_length) *address_length = 0;  // a TCP socket reports no source
  return result;
}

ssize_t recvmsg(int fd, msghdr* message, int flags) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(recvmsg)(fd, message, flags);
  if (is_bridged_datagram(fd)) return datagram::receive_message(fd, message, flags);
  void* name = message->msg_name;
  message->msg_name = nullptr;
  ssize_t result = TMC_REAL(recvmsg)(fd, message, flags);
  message->msg_name = name;
  if (result >= 0) message->msg_namelen = 0;
  return result;
}

int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout) {
  if (!FdTable::managed(fd) || inside_shim()) return TMC_REAL(recvmmsg)(fd, messages, count, flags, timeout);
  if (is_bridged_datagram(fd)) return datagram::receive_messages(fd, messages, count, flags, timeout);
  int result = TMC_REAL(recvmmsg)(fd, messages, count, flags, timeout);
  for (int i = 0; i < result; ++i) messages[i].msg_hdr.msg_namelen = 0;
  return result;
}

std::vector<std::string>& inherited_environment() {
  static auto* variables = new std::vector<std::string>;
  return *variables;
}

void remember_environment() {
  auto& variables = inherited_environment();
  variables.clear();
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    if (text.starts_with("LD_PRELOAD=") || text.starts_with("TMC_POLICY=") || text.starts_with("TMC_POLICY_DIR=") ||
        text.starts_with("TMC_LOG=")) {
      variables.emplace_back(text);
    }
  }
}

std::vector<char*> exec_environment(char* const envp[], std::vector<std::string>* storage) {
  const auto& inherited = inherited_environment();
  std::vector<char*> result;
  for (char* const* entry = envp; entry && *entry; ++entry) result.push_back(*entry);
  storage->reserve(inherited.size());
  for (const auto& variable : inherited) {
    auto name = variable.substr(0, variable.find('=') + 1);
    bool present = std::any_of(result.begin(), result.end(), [&](char* entry) {
      return std::strncmp(entry, name.c_str(), name.size()) == 0;
    });
    if (!present) {
      storage->push_back(variable);
      result.push_back(storage->back().data());
    }
  }
  result.push_back(nullptr);
  return result;
}

}  // namespace ops

}  // namespace tmc::shim
