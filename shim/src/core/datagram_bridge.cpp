#include "core/datagram_bridge.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/bridge.h"
#include "core/fd_table.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/real.h"

namespace tmc::shim {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kReadsPerWakeup = 64;  // records taken from one engine end before others get a turn
constexpr int kEngineEndBuffer = 4 << 20;

InetEndpoint endpoint_from_storage(const sockaddr_storage& storage) {
  auto endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&storage), sizeof storage);
  return endpoint ? *endpoint : InetEndpoint{};
}

bool is_wildcard(const IpAddress& address) { return address == *parse_ip("0.0.0.0") || address == *parse_ip("::"); }

// Whether `address` is one of this host's addresses (a UDP socket can bind it).
bool is_local_address(const IpAddress& address) {
  int family = address.is_v4() ? AF_INET : AF_INET6;
  int probe = TMC_REAL(socket)(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  sockaddr_storage storage{};
  socklen_t length;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    std::memcpy(&v4->sin_addr, address.bytes.data() + 12, 4);
    length = sizeof *v4;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    std::memcpy(&v6->sin6_addr, address.bytes.data(), 16);
    length = sizeof *v6;
  }
  bool local = TMC_REAL(bind)(probe, reinterpret_cast<sockaddr*>(&storage), length) == 0;
  TMC_REAL(close)(probe);
  return local;
}

void set_buffer(int fd, int option_force, int option, int size) {
  if (TMC_REAL(setsockopt)(fd, SOL_SOCKET, option_force, &size, sizeof size) != 0) {
    TMC_REAL(setsockopt)(fd, SOL_SOCKET, option, &size, sizeof size);
  }
}

}  // namespace

DatagramHeader DatagramHeader::of(const InetEndpoint& endpoint) {
  DatagramHeader header;
  header.port = endpoint.port;
  header.has_address = 1;
  header.address = endpoint.address.bytes;
  return header;
}

InetEndpoint DatagramHeader::endpoint() const {
  InetEndpoint endpoint;
  endpoint.address.bytes = address;
  endpoint.port = port;
  return endpoint;
}

std::uint16_t DatagramSocket::channel_port() const { return port_ ? port_->local_port() : 0; }

std::optional<InetEndpoint> DatagramSocket::peer() const {
  std::lock_guard lock(state_mutex_);
  return peer_;
}

std::vector<std::string> DatagramSocket::joined_groups() const {
  std::lock_guard lock(state_mutex_);
  return groups_;
}

bool DatagramBridge::is_group_destination(const Rule& rule, const InetEndpoint& destination) {
  return rule.group && rule.address.contains(destination.address) && rule.ports.contains(destination.port);
}

DatagramBridge::DatagramBridge(std::shared_ptr<ChannelFactory> factory, Options options)
    : factory_(std::move(factory)), options_(options) {
  ShimScope scope;
  open_wakeable_epoll(epoll_fd_, wake_fd_);
  thread_ = std::thread([this] { run(); });
}

DatagramBridge::~DatagramBridge() {
  if (abandoned_) return;
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  ShimScope scope;
  std::map<std::uint64_t, std::shared_ptr<DatagramSocket>> sockets;
  {
    std::lock_guard lock(mutex_);
    sockets.swap(sockets_);
  }
  for (auto& [id, socket] : sockets) destroy(socket);
  FdTable::clear(epoll_fd_);
  FdTable::clear(wake_fd_);
  TMC_REAL(close)(epoll_fd_);
  TMC_REAL(close)(wake_fd_);
}

void DatagramBridge::abandon_after_fork() {
  abandoned_ = true;
  if (thread_.joinable()) thread_.detach();
}

void DatagramBridge::wake() { wake_eventfd(wake_fd_); }

void DatagramBridge::mark_dirty(std::uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    dirty_.push_back(id);
  }
  wake();
}

std::shared_ptr<DatagramSocket> DatagramBridge::find(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto found = sockets_.find(id);
  return found == sockets_.end() ? nullptr : found->second;
}

std::size_t DatagramBridge::socket_count() {
  std::lock_guard lock(mutex_);
  return sockets_.size();
}

DatagramBridge::Opened DatagramBridge::open(const Rule& rule, const InetEndpoint& bind_to, InetEndpoint reported_local,
                                            const Policy& policy, std::shared_ptr<DatagramSocket>* out) {
  ShimScope scope;
  auto socket = std::make_shared<DatagramSocket>();
  socket->id_ = next_id_++;
  socket->rule_ = &rule;
  Manifest manifest = rule.manifest;
  if (rule.group) {
    manifest.multicast = Multicast{rule.group->members, rule.group->multicast};
    for (const auto& member : rule.group->members) {
      // Members' addresses as the channel reports sources (normalised through the parser).
      auto endpoint = parse_endpoint(member.address);
      socket->member_addresses_.push_back(endpoint ? endpoint->to_string() : member.address);
    }
  }
  try {
    socket->port_ = factory_->open(manifest, bind_to.to_string());
  } catch (const std::exception& error) {
    log_warn("{} {}: cannot open channel: {}", to_string(rule.role), bind_to.to_string(), error.what());
    return {-1, EADDRINUSE};
  }
  if (reported_local.port == 0) reported_local.port = socket->port_->local_port();
  socket->local_ = reported_local;

  int pair[2];
  if (TMC_REAL(socketpair)(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    int error = errno;
    socket->port_->close();
    return {-1, error};
  }
  socket->engine_fd_ = move_high_cloexec(pair[1]);
  TMC_REAL(fcntl)(socket->engine_fd_, F_SETFL, O_NONBLOCK);
  set_buffer(socket->engine_fd_, SO_SNDBUFFORCE, SO_SNDBUF, kEngineEndBuffer);
  set_buffer(socket->engine_fd_, SO_RCVBUFFORCE, SO_RCVBUF, kEngineEndBuffer);

  std::weak_ptr<DatagramSocket> weak = socket;
  socket->port_->on_message([this, weak](std::vector<std::byte>&& payload, const sockaddr_storage& source) {
    engine_thread = true;
    if (auto socket = weak.lock()) deliver(socket, std::move(payload), source);
  });

  // A receiver bound on a group member's address is that member: it joins the group's
  // multicast address, so one packet from the sender reaches it.
  if (rule.role == Role::udp_receiver) {
    for (const auto& other : policy.rules) {
      if (!other.group || other.group->multicast.empty()) continue;
      for (const auto& member : other.group->members) {
        auto address = parse_endpoint(member.address);
        if (!address || address->port != bind_to.port) continue;
        bool mine = address->address == bind_to.address ||
                    (is_wildcard(bind_to.address) && is_local_address(address->address));
        if (mine) join_group(*socket, other.group->multicast);
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    sockets_[socket->id_] = socket;
  }
  mark_dirty(socket->id_);  // the bridge thread registers the engine end
  log_debug("{} socket {} on channel port {} (rule {})", to_string(rule.role), reported_local.to_string(),
            socket->port_->local_port(), rule.name);
  *out = socket;
  return {pair[0], 0};
}

void DatagramBridge::set_peer(DatagramSocket& socket, std::optional<InetEndpoint> peer) {
  std::lock_guard lock(socket.state_mutex_);
  socket.peer_ = peer;
}

int DatagramBridge::join_group(DatagramSocket& socket, const std::string& group) {
  ShimScope scope;
  {
    std::lock_guard lock(socket.state_mutex_);
    if (std::find(socket.groups_.begin(), socket.groups_.end(), group) != socket.groups_.end()) return 0;
  }
  try {
    socket.port_->join_group(group);
  } catch (const std::system_error& error) {
    log_warn("join {}: {}", group, error.what());
    return error.code().value() ? error.code().value() : EADDRNOTAVAIL;
  } catch (const std::exception& error) {
    log_warn("join {}: {}", group, error.what());
    return EINVAL;
  }
  std::lock_guard lock(socket.state_mutex_);
  socket.groups_.push_back(group);
  log_debug("socket {} joined {}", socket.local_.to_string(), group);
  return 0;
}

// ---- bridge thread ----

void DatagramBridge::run() {
  engine_thread = true;
  while (!stopping_) {
    dispatch_epoll_events(
        epoll_fd_, wake_fd_, 50, [this](std::uint64_t id) { return find(id); },
        [this](const std::shared_ptr<DatagramSocket>& socket) { flush_out(socket); },
        [this](const std::shared_ptr<DatagramSocket>& socket) { on_readable(socket); });
    std::deque<std::uint64_t> dirty;
    std::vector<std::shared_ptr<DatagramSocket>> closing;
    {
      std::lock_guard lock(mutex_);
      dirty.swap(dirty_);
      for (auto& [id, socket] : sockets_)
        if (socket->app_closed_) closing.push_back(socket);
    }
    for (auto id : dirty) {
      if (auto socket = find(id)) {
        flush_out(socket);
        on_readable(socket);  // resumes reading after a pause (nonblocking: returns at once when empty)
      }
    }
    for (auto& socket : closing) maybe_destroy(socket);
  }
}

void DatagramBridge::update_interest(const std::shared_ptr<DatagramSocket>& socket) {
  if (socket->engine_fd_ < 0) return;
  std::uint32_t interest = 0;
  bool paused = socket->outstanding_bytes_.load() > static_cast<std::int64_t>(options_.max_outstanding_bytes);
  if (!socket->app_closed_ && !paused) interest |= EPOLLIN;
  {
    std::lock_guard lock(socket->out_mutex_);
    if (!socket->out_.empty() && !socket->broken_) interest |= EPOLLOUT;
  }
  if (socket->registered_ && interest == socket->interest_) return;
  epoll_event event{};
  event.events = interest;
  event.data.u64 = socket->id_;
  ::epoll_ctl(epoll_fd_, socket->registered_ ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket->engine_fd_, &event);
  socket->registered_ = true;
  socket->interest_ = interest;
}

void DatagramBridge::on_readable(const std::shared_ptr<DatagramSocket>& socket) {
  if (socket->app_closed_ || socket->engine_fd_ < 0) return;
  static thread_local std::vector<std::byte> buffer(sizeof(DatagramHeader) + kMaxUdpPayload + 1);
  for (int round = 0; round < kReadsPerWakeup; ++round) {
    if (socket->outstanding_bytes_.load() > static_cast<std::int64_t>(options_.max_outstanding_bytes)) break;
    ssize_t count = TMC_REAL(recv)(socket->engine_fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (count < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      count = 0;  // treat errors as the application's end being gone
    }
    if (count == 0) {
      // Every copy of the application's end is closed: finish reliable sends, then close.
      socket->app_closed_ = true;
      socket->linger_until_ = Clock::now() + options_.close_linger;
      break;
    }
    send_datagram(socket, std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(count)));
  }
  update_interest(socket);
}

void DatagramBridge::send_datagram(const std::shared_ptr<DatagramSocket>& socket, std::span<const std::byte> record) {
  note_unqueued(*socket);
  DatagramHeader header;
  if (record.size() >= sizeof header) std::memcpy(&header, record.data(), sizeof header);
  if (record.size() < sizeof header || header.magic != DatagramHeader::kMagic || !header.has_address) {
    ++socket->malformed_records_;  // not written by the shim's send path (e.g. sendfile): dropped
    log_debug("socket {}: dropped a {}-byte record without the datagram header", socket->id_, record.size());
    return;
  }
  send_to_channel(socket, header.endpoint(), record.subspan(sizeof header));
}

void DatagramBridge::note_unqueued(DatagramSocket& socket) {
  // Fork children write records here too, uncounted: the count never goes below 0.
  auto queued = socket.queued_records_.load();
  while (queued > 0 && !socket.queued_records_.compare_exchange_weak(queued, queued - 1)) {
  }
}

bool DatagramBridge::send_direct(const std::shared_ptr<DatagramSocket>& socket, const InetEndpoint& destination,
                                 std::span<const std::byte> payload) {
  if (socket->queued_records_.load() > 0 || socket->app_closed_ ||
      socket->outstanding_bytes_.load() > static_cast<std::int64_t>(options_.max_outstanding_bytes)) {
    return false;
  }
  ShimScope scope;
  send_to_channel(socket, destination, payload);
  return true;
}

void DatagramBridge::send_to_channel(const std::shared_ptr<DatagramSocket>& socket, const InetEndpoint& destination,
                                     std::span<const std::byte> payload) {
  const Rule& rule = *socket->rule_;
  const Manifest* per_message = rule.manifest_for(payload);
  auto size = static_cast<std::int64_t>(payload.size());
  socket->outstanding_bytes_ += size;
  std::weak_ptr<DatagramSocket> weak = socket;
  auto done = [this, weak, size] {
    auto socket = weak.lock();
    if (!socket) return;
    auto before = socket->outstanding_bytes_.fetch_sub(size);
    auto limit = static_cast<std::int64_t>(options_.max_outstanding_bytes);
    if ((before > limit && before - size <= limit) || (socket->app_closed_ && before == size)) mark_dirty(socket->id_);
  };
  try {
    if (is_group_destination(rule, destination)) {
      socket->port_->send(payload, per_message, std::move(done));
    } else {
      socket->port_->send_to(payload, destination.to_string(), per_message, std::move(done));
    }
  } catch (const std::exception& error) {
    log_warn("{} to {}: {}", rule.name, destination.to_string(), error.what());
  }
}

void DatagramBridge::deliver(const std::shared_ptr<DatagramSocket>& socket, std::vector<std::byte>&& payload,
                             const sockaddr_storage& source) {
  auto from = endpoint_from_storage(source);
  {
    // A connected UDP socket receives only from its peer (for a group's virtual destination:
    // from the group's members).
    std::lock_guard lock(socket->state_mutex_);
    if (socket->peer_) {
      auto text = from.to_string();
      bool accepted = text == socket->peer_->to_string() ||
                      (DatagramBridge::is_group_destination(*socket->rule_, *socket->peer_) &&
                       std::find(socket->member_addresses_.begin(), socket->member_addresses_.end(), text) !=
                           socket->member_addresses_.end());
      if (!accepted) return;
    }
  }
  auto header = DatagramHeader::of(from);
  bool need_bridge = false;
  {
    std::lock_guard lock(socket->out_mutex_);
    if (socket->broken_ || socket->engine_fd_ < 0) return;
    if (socket->out_.empty()) {
      iovec parts[2] = {{&header, sizeof header}, {payload.data(), payload.size()}};
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = 2;
      ssize_t written = TMC_REAL(sendmsg)(socket->engine_fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written >= 0) return;
      if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS) {
        socket->broken_ = true;  // the application's end is gone
        return;
      }
    }
    if (socket->out_bytes_ + payload.size() > options_.max_buffered_bytes) {
      ++socket->dropped_deliveries_;  // the application does not read: drop as a full UDP buffer does
      return;
    }
    std::vector<std::byte> record(sizeof header + payload.size());
    std::memcpy(record.data(), &header, sizeof header);
    if (!payload.empty()) std::memcpy(record.data() + sizeof header, payload.data(), payload.size());
    socket->out_bytes_ += record.size();
    need_bridge = socket->out_.empty();
    socket->out_.push_back(std::move(record));
  }
  if (need_bridge) mark_dirty(socket->id_);
}

void DatagramBridge::flush_out(const std::shared_ptr<DatagramSocket>& socket) {
  {
    std::lock_guard lock(socket->out_mutex_);
    while (!socket->out_.empty() && !socket->broken_ && socket->engine_fd_ >= 0) {
      auto& record = socket->out_.front();
      ssize_t written = TMC_REAL(send)(socket->engine_fd_, record.data(), record.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written < 0) {
        if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS) break;
        socket->broken_ = true;
        break;
      }
      socket->out_bytes_ -= record.size();
      socket->out_.pop_front();
    }
    if (socket->broken_) {
      socket->out_.clear();
      socket->out_bytes_ = 0;
    }
  }
  update_interest(socket);
}

void DatagramBridge::maybe_destroy(const std::shared_ptr<DatagramSocket>& socket) {
  if (!socket->app_closed_) return;
  if (socket->outstanding_bytes_.load() > 0 && Clock::now() < socket->linger_until_) return;
  {
    std::lock_guard lock(mutex_);
    if (!sockets_.erase(socket->id_)) return;
  }
  destroy(socket);
}

void DatagramBridge::destroy(const std::shared_ptr<DatagramSocket>& socket) {
  ShimScope scope;
  if (socket->port_) socket->port_->close();
  std::lock_guard lock(socket->out_mutex_);  // deliver() writes to engine_fd_ under it
  socket->broken_ = true;
  if (socket->engine_fd_ >= 0) {
    if (socket->registered_) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, socket->engine_fd_, nullptr);
    FdTable::clear(socket->engine_fd_);
    TMC_REAL(close)(socket->engine_fd_);
    socket->engine_fd_ = -1;
  }
  log_debug("datagram socket {} ({}) closed", socket->id_, socket->local_.to_string());
}

std::string DatagramBridge::stats(bool prometheus) {
  std::vector<std::shared_ptr<DatagramSocket>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, socket] : sockets_) all.push_back(socket);
  }
  std::ostringstream out;
  for (auto& socket : all) {
    if (!socket->port_) continue;
    auto stats = socket->port_->stats();
    if (prometheus) {
      std::string labels = "{rule=\"" + socket->rule().name + "\",local=\"" + socket->local_.to_string() +
                           "\",socket=\"" + std::to_string(socket->id_) + "\"}";
      out << "tmc_shim_messages_sent_total" << labels << " " << stats.messages_sent << "\n"
          << "tmc_shim_bytes_sent_total" << labels << " " << stats.bytes_sent << "\n"
          << "tmc_shim_messages_delivered_total" << labels << " " << stats.messages_delivered << "\n"
          << "tmc_shim_bytes_delivered_total" << labels << " " << stats.bytes_delivered << "\n"
          << "tmc_shim_retransmissions_total" << labels << " " << stats.retransmissions << "\n"
          << "tmc_shim_abandoned_total" << labels << " " << stats.abandoned << "\n"
          << "tmc_shim_smoothed_rtt_seconds" << labels << " " << stats.smoothed_rtt_us / 1e6 << "\n";
    } else {
      out << "datagram socket " << socket->id_ << " rule " << socket->rule().name << " "
          << to_string(socket->rule().role) << " " << socket->local_.to_string() << " (channel port "
          << socket->channel_port() << ")\n"
          << "  messages sent " << stats.messages_sent << " (" << stats.bytes_sent << " B), delivered "
          << stats.messages_delivered << " (" << stats.bytes_delivered << " B), dropped unread "
          << socket->dropped_deliveries() << ", malformed records " << socket->malformed_records() << "\n"
          << "  packets sent " << stats.packets_sent << ", received " << stats.packets_received << ", retransmissions "
          << stats.retransmissions << ", abandoned " << stats.abandoned << ", malformed " << stats.malformed_dropped
          << "\n  rtt smoothed " << stats.smoothed_rtt_us << " us, p99 " << stats.rtt_p99_us << " us\n";
    }
  }
  return out.str();
}

}  // namespace tmc::shim
