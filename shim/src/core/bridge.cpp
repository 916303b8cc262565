#include "core/bridge.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <random>
#include <sstream>

#include "core/fd_table.h"
#include "core/guard.h"
#include "core/log.h"
#include "core/real.h"
#include "tmc/wire_format.h"

namespace tmc::shim {

namespace {

using Clock = std::chrono::steady_clock;
// One read from the socketpair: four stream messages' worth (Framer::kChunk each), so a bulk
// transfer costs one read per 240 KiB and every message but a transfer's last is a full chunk
// (a 64 KiB read used to leave a 4 KiB message behind each 60 KiB one: twice the messages, and a
// short last fragment that ends a UDP GSO run early).
constexpr std::size_t kReadSize = 4 * Framer::kChunk;
// Larger writes go through the socketpair: for bulk transfers the bridge thread framing and
// sending while the application copies its next buffer measured better on two cores
// (Options::direct_bulk lifts the limit for `stream` framing).
constexpr std::size_t kDirectSendLimit = 16 * 1024;
constexpr std::chrono::milliseconds kCloseRepeat{20};
constexpr int kCloseRepeats = 3;
// Unreliable channels cannot wait for lost messages before the peer's CLOSE takes effect.
constexpr std::chrono::milliseconds kUnreliableLinger{500};
constexpr std::chrono::milliseconds kReliableLinger{3000};
// Cross-connection ordering (Bridge::ordering_clear): a connection with at least this many
// bytes undecided (or paused at max_outstanding_bytes) is doing bulk transfer, and bytes another
// connection of its group reads now wait for what it had emitted (and buffered) so far — at most
// kMaxOrderingHold, so a stalled peer cannot stop the others.
constexpr std::int64_t kBulkOutstanding = 64 * 1024;
constexpr std::uint64_t kBulkLifetime = 1 << 20;  // ... or has anything undecided after 1 MiB in all
constexpr std::chrono::milliseconds kMaxOrderingHold{2000};
// The receiving side of the same ordering: a delivery waits while another connection of its
// group that received bulk data (kBulkOutstanding in all) still has bytes its application has
// not read, at most kMaxDeliveryHold (the application may wait for this very delivery). Only
// groups of at most kMaxCheckedGroup connections are checked (one ioctl per member).
constexpr std::chrono::milliseconds kMaxDeliveryHold{200};
constexpr std::size_t kMaxCheckedGroup = 8;

std::uint32_t random_token() {
  static thread_local std::mt19937 generator(std::random_device{}());
  std::uint32_t token;
  do token = static_cast<std::uint32_t>(generator()); while (token == 0);
  return token;
}

InetEndpoint endpoint_from_storage(const sockaddr_storage& storage) {
  auto endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&storage), sizeof storage);
  return endpoint ? *endpoint : InetEndpoint{};
}

// The connecting socket's abstract name: "tmc-a-<pid>-<connection id>-<peer endpoint>".
std::string accepted_name(std::uint64_t connection_id, const InetEndpoint& peer) {
  return "tmc-a-" + std::to_string(::getpid()) + "-" + std::to_string(connection_id) + "-" + peer.to_string();
}

socklen_t abstract_address(const std::string& name, sockaddr_un* address) {
  std::memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  std::size_t length = std::min(name.size(), sizeof address->sun_path - 1);
  std::memcpy(address->sun_path + 1, name.data(), length);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
}

bool reliable(const Manifest& manifest) {
  return manifest.reliability && manifest.reliability->kind != Reliability::Kind::none;
}

}  // namespace

std::string abstract_listener_name(std::uint64_t listener_id) {
  return "tmc-l-" + std::to_string(::getpid()) + "-" + std::to_string(listener_id);
}

int move_high_cloexec(int fd) {
  if (fd < 0) return fd;
  static const int base = [] {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    auto half = static_cast<long>(limit.rlim_cur / 2);
    return static_cast<int>(std::clamp<long>(half, 64, FdTable::kCapacity / 2));
  }();
  int moved = TMC_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, base);
  if (moved < 0) {
    // Out of high fds: keep the low one, still close-on-exec.
    TMC_REAL(fcntl)(fd, F_SETFD, FD_CLOEXEC);
    FdTable::mark_internal(fd);
    return fd;
  }
  TMC_REAL(close)(fd);
  FdTable::mark_internal(moved);
  return moved;
}

// ---- Connection ----

std::uint64_t Connection::begin_write(std::size_t length) {
  std::lock_guard lock(boundary_mutex_);
  auto token = next_token_++;
  pending_writes_.push_back({token, length, false});
  return token;
}

void Connection::end_write(std::uint64_t token, ssize_t written) {
  {
    std::lock_guard lock(boundary_mutex_);
    for (auto it = pending_writes_.begin(); it != pending_writes_.end(); ++it) {
      if (it->token != token) continue;
      if (written <= 0) {
        pending_writes_.erase(it);
      } else {
        it->length = static_cast<std::size_t>(written);
        it->final = true;
      }
      break;
    }
  }
  if (bridge_) bridge_->mark_dirty(id_);
}

std::uint16_t Listener::channel_port() const { return port_ ? port_->local_port() : 0; }

// ---- Bridge ----

Bridge::Bridge(std::shared_ptr<ChannelFactory> factory, Options options)
    : factory_(std::move(factory)), options_(options) {
  ShimScope scope;
  open_wakeable_epoll(epoll_fd_, wake_fd_);
  thread_ = std::thread([this] { run(); });
}

Bridge::~Bridge() {
  if (abandoned_) return;
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  ShimScope scope;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections;
  std::map<std::uint64_t, std::shared_ptr<Listener>> listeners;
  {
    std::lock_guard lock(mutex_);
    connections.swap(connections_);
    listeners.swap(listeners_);
  }
  for (auto& [id, connection] : connections) {
    if (connection->port_) connection->port_->close();
    if (connection->engine_fd_ >= 0) {
      FdTable::clear(connection->engine_fd_);
      TMC_REAL(close)(connection->engine_fd_);
    }
  }
  for (auto& [id, listener] : listeners) {
    if (listener->port_) listener->port_->close();
  }
  connections.clear();
  listeners.clear();
  FdTable::clear(epoll_fd_);
  FdTable::clear(wake_fd_);
  TMC_REAL(close)(epoll_fd_);
  TMC_REAL(close)(wake_fd_);
}

void Bridge::abandon_after_fork() {
  abandoned_ = true;
  if (thread_.joinable()) thread_.detach();  // the thread does not exist in this process
}

void Bridge::mark_dirty(std::uint64_t connection_id) {
  {
    std::lock_guard lock(mutex_);
    dirty_.push_back(connection_id);
  }
  wake();
}

void open_wakeable_epoll(int& epoll_fd, int& wake_fd) {
  epoll_fd = move_high_cloexec(TMC_REAL(epoll_create1)(EPOLL_CLOEXEC));
  wake_fd = move_high_cloexec(TMC_REAL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kBridgeWakeId;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event);
}

void wake_eventfd(int wake_fd) {
  std::uint64_t one = 1;
  ssize_t ignored = TMC_REAL(write)(wake_fd, &one, sizeof one);
  (void)ignored;
}

void drain_eventfd(int wake_fd) {
  std::uint64_t value;
  while (TMC_REAL(read)(wake_fd, &value, sizeof value) > 0) {
  }
}

void Bridge::wake() { wake_eventfd(wake_fd_); }

std::size_t Bridge::connection_count() {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

std::shared_ptr<Connection> Bridge::find(std::uint64_t connection_id) {
  std::lock_guard lock(mutex_);
  auto found = connections_.find(connection_id);
  return found == connections_.end() ? nullptr : found->second;
}

void Bridge::wire(const std::shared_ptr<Connection>& connection) {
  std::weak_ptr<Connection> weak = connection;
  auto id = connection->id_;
  connection->port_->on_message([this, weak](std::vector<std::byte>&& payload, const sockaddr_storage& source) {
    engine_thread = true;  // the runtime thread: its own socket calls must pass through
    if (auto connection = weak.lock()) deliver(connection, std::move(payload), source);
  });
  connection->port_->on_control([this, id](std::uint8_t subtype, std::uint32_t argument, const sockaddr_storage& source) {
    engine_thread = true;
    {
      std::lock_guard lock(mutex_);
      events_.push_back({id, false, subtype, argument, source});
    }
    wake();
  });
}

Bridge::Opened Bridge::connect(const Rule& rule, const InetEndpoint& destination, const IpAddress& local_ip,
                               bool nonblocking, std::shared_ptr<Connection>* out) {
  ShimScope scope;
  int pair[2];
  if (TMC_REAL(socketpair)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return {-1, errno};
  auto connection = std::make_shared<Connection>();
  connection->id_ = next_id_++;
  connection->rule_ = &rule;
  connection->bridge_ = this;
  connection->peer_ = destination;
  connection->peer_address_ = destination.to_string();
  connection->peer_data_ = destination;
  connection->open_address_ = connection->peer_address_;
  connection->token_ = random_token();
  connection->framer_ = Framer(rule.framing);
  connection->engine_fd_ = move_high_cloexec(pair[1]);
  TMC_REAL(fcntl)(connection->engine_fd_, F_SETFL, O_NONBLOCK);
  try {
    InetEndpoint bind_to{local_ip, 0};
    if (local_ip.is_v4() != destination.address.is_v4()) bind_to.address = *parse_ip(destination.address.is_v4() ? "0.0.0.0" : "::");
    connection->port_ = factory_->open(rule.manifest, bind_to.to_string());
  } catch (const std::exception& error) {
    log_warn("connect {}: cannot open channel: {}", destination.to_string(), error.what());
    TMC_REAL(close)(pair[0]);
    FdTable::clear(connection->engine_fd_);
    TMC_REAL(close)(connection->engine_fd_);
    return {-1, EADDRNOTAVAIL};
  }
  connection->local_ = InetEndpoint{local_ip, connection->port_->local_port()};
  if (nonblocking) {
    // Keep the app end not-writable until the handshake ends: fill its small send buffer
    // with bytes the bridge discards once established (then POLLOUT fires, as for TCP).
    int small = 1;  // the kernel rounds up to its minimum
    TMC_REAL(setsockopt)(pair[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    TMC_REAL(fcntl)(pair[0], F_SETFL, O_NONBLOCK);
    char filler[1024] = {};
    for (int i = 0; i < 64; ++i) {
      ssize_t written = TMC_REAL(send)(pair[0], filler, sizeof filler, MSG_NOSIGNAL);
      if (written <= 0) break;
      connection->filler_remaining_ += static_cast<std::size_t>(written);
    }
  }
  wire(connection);
  connection->deadline_ = Clock::now() + options_.connect_timeout;
  connection->retry_interval_ = options_.first_retry;
  connection->next_retry_ = Clock::now() + connection->retry_interval_;
  {
    std::lock_guard lock(mutex_);
    connections_[connection->id_] = connection;
  }
  log_debug("connect {}: OPEN token {} from port {}", connection->peer_address_, connection->token_,
            connection->port_->local_port());
  connection->port_->send_control(TMC_CONTROL_OPEN, connection->token_, connection->peer_address_);
  wake();
  *out = connection;
  return {pair[0], 0};
}

int Bridge::wait_connected(Connection& connection) {
  std::unique_lock lock(connection.wait_mutex_);
  connection.wait_cv_.wait(lock, [&] { return connection.state() != Connection::State::connecting; });
  return connection.state() == Connection::State::failed ? connection.error() : 0;
}

Bridge::Opened Bridge::listen(const Rule& rule, const InetEndpoint& local, int backlog, std::shared_ptr<Listener>* out) {
  ShimScope scope;
  auto listener = std::make_shared<Listener>();
  listener->id_ = next_id_++;
  listener->rule_ = &rule;
  listener->local_ = local;
  listener->unix_name_ = abstract_listener_name(listener->id_);
  int fd = TMC_REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {-1, errno};
  sockaddr_un address;
  socklen_t length = abstract_address(listener->unix_name_, &address);
  if (TMC_REAL(bind)(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      TMC_REAL(listen)(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
    int error = errno;
    TMC_REAL(close)(fd);
    return {-1, error};
  }
  try {
    listener->port_ = factory_->open(rule.manifest, local.to_string());
  } catch (const std::exception& error) {
    log_warn("listen {}: cannot open channel: {}", local.to_string(), error.what());
    TMC_REAL(close)(fd);
    return {-1, EADDRINUSE};
  }
  auto id = listener->id_;
  listener->port_->on_control([this, id](std::uint8_t subtype, std::uint32_t argument, const sockaddr_storage& source) {
    engine_thread = true;
    {
      std::lock_guard lock(mutex_);
      events_.push_back({id, true, subtype, argument, source});
    }
    wake();
  });
  {
    std::lock_guard lock(mutex_);
    listeners_[id] = listener;
  }
  log_debug("listen {}: channel port {}", local.to_string(), listener->port_->local_port());
  *out = listener;
  return {fd, 0};
}

void Bridge::close_listener(const std::shared_ptr<Listener>& listener) {
  {
    std::lock_guard lock(mutex_);
    listener->closed_ = true;
    listeners_.erase(listener->id_);
  }
  ShimScope scope;
  if (listener->port_) listener->port_->close();
  if (listener->reserved_fd >= 0) {
    FdTable::clear(listener->reserved_fd);
    TMC_REAL(close)(listener->reserved_fd);
    listener->reserved_fd = -1;
  }
}

std::optional<InetEndpoint> Bridge::accepted_peer(int app_fd, std::uint64_t* connection_id) {
  sockaddr_un address{};
  socklen_t length = sizeof address;
  if (TMC_REAL(getpeername)(app_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return std::nullopt;
  if (address.sun_family != AF_UNIX || length <= offsetof(sockaddr_un, sun_path) + 1 || address.sun_path[0] != '\0') {
    return std::nullopt;
  }
  std::string name(address.sun_path + 1, length - offsetof(sockaddr_un, sun_path) - 1);
  // tmc-a-<pid>-<id>-<endpoint>
  if (name.rfind("tmc-a-", 0) != 0) return std::nullopt;
  auto pid_end = name.find('-', 6);
  if (pid_end == std::string::npos) return std::nullopt;
  auto id_end = name.find('-', pid_end + 1);
  if (id_end == std::string::npos) return std::nullopt;
  auto pid = std::strtol(name.substr(6, pid_end - 6).c_str(), nullptr, 10);
  auto id = std::strtoull(name.substr(pid_end + 1, id_end - pid_end - 1).c_str(), nullptr, 10);
  if (connection_id) *connection_id = pid == ::getpid() ? id : 0;
  return parse_endpoint(name.substr(id_end + 1));
}

// ---- bridge thread ----

void Bridge::run() {
  engine_thread = true;
  while (!stopping_) {
    dispatch_epoll_events(
        epoll_fd_, wake_fd_, 10, [this](std::uint64_t id) { return find(id); },
        [this](const std::shared_ptr<Connection>& connection) { flush_out(connection); },
        [this](const std::shared_ptr<Connection>& connection) { on_readable(connection); });
    // Control events queued by the runtime thread.
    std::deque<ControlEvent> pending;
    {
      std::lock_guard lock(mutex_);
      pending.swap(events_);
    }
    for (auto& event : pending) handle_control(event.owner, event.is_listener, event.subtype, event.argument, event.source);
    timers();
    std::deque<std::uint64_t> dirty;
    {
      std::lock_guard lock(mutex_);
      dirty.swap(dirty_);
    }
    for (auto id : dirty) {
      if (auto connection = find(id)) {
        flush_out(connection);
        {
          std::lock_guard send_lock(connection->send_mutex_);
          send_messages(connection, false);
        }
        update_interest(connection);
        maybe_finish(connection);
      }
    }
    release_held();
    if (exit_requested_.load()) exit_step();
  }
}

// Process exit (see close_all_at_exit). Runs on the bridge thread every loop turn until done.
void Bridge::exit_step() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, connection] : connections_) all.push_back(connection);
  }
  bool done = true;
  for (auto& connection : all) {
    if (connection->state() != Connection::State::established) continue;
    if (!connection->local_closed_) on_readable(connection, true);
    if (connection->state() != Connection::State::established) continue;
    // Finished once every CLOSE repeat went out and the engine decided every byte (acked, on
    // reliable channels: nothing retransmits them after the process is gone).
    if (connection->close_repeats_ < kCloseRepeats || connection->outstanding_bytes_.load() > 0) done = false;
  }
  if (done) {
    std::lock_guard lock(exit_mutex_);
    exit_done_ = true;
    exit_cv_.notify_all();
  }
}

void Bridge::close_all_at_exit(std::chrono::milliseconds budget) {
  if (abandoned_ || !thread_.joinable() || engine_thread) return;
  if (connection_count() == 0) return;
  exit_requested_ = true;
  wake();
  std::unique_lock lock(exit_mutex_);
  exit_cv_.wait_for(lock, budget, [this] { return exit_done_; });
}

// ---- ordering across the connections of one group ----
//
// TCP on one host gives applications an ordering they rely on without being promised it: bytes
// written on connection A are in the peer's socket before bytes written afterwards on connection
// B reach it (iperf3 stops counting its data connection when TEST_END arrives on its control
// connection). Here A's bytes may still wait in the bridge or in flight while B's overtake on
// another channel, so bytes read from B wait until every bulk connection of the same group has
// had the bytes it emitted so far — and, when paused, the bytes waiting in its socket —
// decided by the engine (acknowledged, for reliable channels).

void Bridge::join_ordering_group(const std::shared_ptr<Connection>& connection, std::string key) {
  auto& group = ordering_groups_[key];
  if (!group) group = std::make_shared<OrderingGroup>();
  {
    std::lock_guard lock(group->mutex);
    std::erase_if(group->members, [](const std::weak_ptr<Connection>& member) { return member.expired(); });
    group->members.push_back(connection);
    group->size = group->members.size();
  }
  connection->ordering_group_ = group;
  connection->ordering_key_ = std::move(key);
}

// Any thread. True when another connection of the group is doing bulk transfer (the case in
// which ordering_clear() would hold this one's bytes).
bool Bridge::group_has_bulk(const Connection& connection) const {
  const auto& group = connection.ordering_group_;
  auto size = group ? group->size.load(std::memory_order_relaxed) : 0;
  if (size < 2 || size > kMaxCheckedGroup) return false;  // the common case: no lock
  std::lock_guard lock(group->mutex);
  for (auto& weak : group->members) {
    auto other = weak.lock();
    if (!other || other.get() == &connection || other->state() != Connection::State::established) continue;
    if (bulk(*other)) return true;
  }
  return false;
}

// A connection doing bulk transfer: much undecided, or — after much in all — anything
// undecided or still unread in its socketpair.
bool Bridge::bulk(const Connection& connection) {
  if (connection.outstanding_bytes_.load() >= kBulkOutstanding) return true;
  if (connection.bytes_decided_.load() < kBulkLifetime) return false;
  // Bytes move socketpair -> bridge buffer (bridge_reading_) -> outstanding_bytes_, and each
  // stage is entered before the previous one is left; checking them in this order, a byte
  // written before the call is seen in one of them unless the engine has decided it.
  int unread = 0;
  if (connection.engine_fd_ >= 0 && ::ioctl(connection.engine_fd_, FIONREAD, &unread) == 0 && unread > 0) return true;
  if (connection.bridge_reading_.load()) return true;
  return connection.outstanding_bytes_.load() > 0;
}

// Any thread. True while another bulk-receiving connection of the group holds bytes in its
// engine end (SIOCOUTQ: not yet read by the application) or in its out_ buffer.
bool Bridge::earlier_bytes_unread(const Connection& connection) {
  const auto& group = connection.ordering_group_;
  if (!group || group->size.load(std::memory_order_relaxed) < 2) return false;
  std::vector<std::shared_ptr<Connection>> others;
  {
    std::lock_guard lock(group->mutex);
    if (group->members.size() < 2 || group->members.size() > kMaxCheckedGroup) return false;
    for (auto& weak : group->members)
      if (auto other = weak.lock(); other && other.get() != &connection) others.push_back(std::move(other));
  }
  for (auto& other : others) {
    if (other->state() != Connection::State::established ||
        other->bytes_delivered_.load() < static_cast<std::uint64_t>(kBulkOutstanding)) {
      continue;
    }
    std::lock_guard lock(other->out_mutex_);
    if (other->broken_ || other->engine_fd_ < 0) continue;
    if (other->out_.size() > other->out_start_) return true;
    int unread = 0;
    if (::ioctl(other->engine_fd_, SIOCOUTQ, &unread) == 0 && unread > 0) return true;
  }
  return false;
}

bool Bridge::ordering_clear(const std::shared_ptr<Connection>& connection) {
  if (connection->ordering_key_.empty()) return true;
  auto now = Clock::now();
  if (!connection->held_) {
    std::vector<std::weak_ptr<Connection>> members;
    if (connection->ordering_group_) {
      std::lock_guard lock(connection->ordering_group_->mutex);
      members = connection->ordering_group_->members;
    }
    if (members.size() < 2 || members.size() > kMaxCheckedGroup) return true;
    connection->hold_targets_.clear();
    for (auto& weak : members) {
      auto other = weak.lock();
      if (!other || other == connection || other->state() != Connection::State::established) continue;
      if (!bulk(*other)) continue;
      // Everything the application wrote to the other connection before these bytes: what
      // was emitted and what still waits in its socketpair (read by this thread, so nothing
      // is between the two). It may include later writes too: that only waits longer.
      std::uint64_t target = other->bytes_emitted_.load();
      int waiting = 0;
      if (::ioctl(other->engine_fd_, FIONREAD, &waiting) == 0 && waiting > 0) {
        target += static_cast<std::uint64_t>(waiting);
      }
      other->watched_ = true;
      connection->hold_targets_.emplace_back(other, target);
    }
    if (connection->hold_targets_.empty()) return true;
    connection->held_ = true;
    connection->hold_deadline_ = now + kMaxOrderingHold;
    held_.push_back(connection);
    log_debug("connection {}: held behind {} bulk connection(s) of its group", connection->id_,
              connection->hold_targets_.size());
  }
  std::erase_if(connection->hold_targets_, [](const auto& entry) {
    auto other = entry.first.lock();
    return !other || other->state() != Connection::State::established || other->bytes_decided_.load() >= entry.second;
  });
  if (!connection->hold_targets_.empty() && now < connection->hold_deadline_) return false;
  connection->held_ = false;
  return true;
}

void Bridge::release_held() {
  std::vector<std::weak_ptr<Connection>> deliveries;
  {
    std::lock_guard lock(delivery_held_mutex_);
    deliveries.swap(delivery_held_);
  }
  for (auto& weak : deliveries) {
    if (auto connection = weak.lock()) flush_out(connection);  // re-holds itself if still needed
  }
  if (held_.empty()) return;
  std::vector<std::weak_ptr<Connection>> held;
  held.swap(held_);
  for (auto& weak : held) {
    auto connection = weak.lock();
    if (!connection || !connection->held_) continue;
    if (connection->state() != Connection::State::established) {
      connection->held_ = false;
      continue;
    }
    if (!ordering_clear(connection)) {
      held_.push_back(connection);
      continue;
    }
    update_interest(connection);  // EPOLLIN back on
    on_readable(connection);
  }
  // Nobody waits any more: completions need not wake the bridge.
  if (held_.empty()) {
    for (auto& [key, group] : ordering_groups_) {
      std::lock_guard lock(group->mutex);
      for (auto& weak : group->members)
        if (auto member = weak.lock()) member->watched_ = false;
    }
  }
}

void Bridge::handle_control(std::uint64_t owner, bool is_listener, std::uint8_t subtype, std::uint32_t argument,
                            const sockaddr_storage& source) {
  auto from = endpoint_from_storage(source);
  if (is_listener) {
    std::shared_ptr<Listener> listener;
    {
      std::lock_guard lock(mutex_);
      auto found = listeners_.find(owner);
      if (found != listeners_.end()) listener = found->second;
    }
    if (!listener) return;
    if (subtype == TMC_CONTROL_OPEN) accept_open(listener, argument, from);
    if (subtype == TMC_CONTROL_PING) listener->port_->send_control(TMC_CONTROL_PONG, argument, from.to_string());
    return;
  }
  auto connection = find(owner);
  if (!connection) return;
  if (subtype == TMC_CONTROL_OPEN) {
    // An OPEN to a connection's own port: this process holds the port but listens on no such
    // thing there. Refuse, as TCP answers a SYN to a port without a listener with RST.
    if (connection->port_) connection->port_->send_control(TMC_CONTROL_REFUSE, argument, from.to_string());
    return;
  }
  // Only the peer may steer a connection: a lingering channel of an earlier connection whose
  // peer used the same UDP port must not close or reset this one.
  auto from_text = from.to_string();
  if (subtype == TMC_CONTROL_OPEN_ACK || subtype == TMC_CONTROL_REFUSE) {
    if (from_text != connection->open_address_) return;
  } else if (connection->state() != Connection::State::established || from_text != connection->peer_address_) {
    return;
  }
  switch (subtype) {
    case TMC_CONTROL_OPEN_ACK:
      if (connection->state() == Connection::State::connecting) {
        std::lock_guard lock(connection->out_mutex_);
        connection->peer_data_ = InetEndpoint{from.address, static_cast<std::uint16_t>(argument)};
        connection->peer_address_ = connection->peer_data_.to_string();
      }
      if (connection->state() == Connection::State::connecting) {
        established(connection, static_cast<std::uint16_t>(argument));
      }
      break;
    case TMC_CONTROL_REFUSE:
      if (connection->state() == Connection::State::connecting) fail(connection, ECONNREFUSED);
      break;
    case TMC_CONTROL_CLOSE:
      if (!connection->peer_close_count_) {
        std::lock_guard lock(connection->out_mutex_);
        connection->peer_close_count_ = argument;
        connection->peer_close_deadline_ =
            Clock::now() + (reliable(connection->rule().manifest) ? kReliableLinger : kUnreliableLinger);
      }
      flush_out(connection);
      maybe_finish(connection);
      break;
    case TMC_CONTROL_RESET:
      fail(connection, ECONNRESET);
      break;
    case TMC_CONTROL_PING:
      connection->port_->send_control(TMC_CONTROL_PONG, argument, connection->peer_address_);
      break;
    default:
      break;
  }
}

void Bridge::accept_open(const std::shared_ptr<Listener>& listener, std::uint32_t token, const InetEndpoint& client) {
  auto key = std::make_pair(client.to_string(), token);
  if (auto known = listener->opened_.find(key); known != listener->opened_.end()) {
    // A retransmitted OPEN: the OPEN_ACK was lost.
    if (auto connection = find(known->second)) {
      listener->port_->send_control(TMC_CONTROL_OPEN_ACK, connection->port_->local_port(), client.to_string());
    }
    return;
  }
  ShimScope scope;
  auto connection = std::make_shared<Connection>();
  connection->id_ = next_id_++;
  connection->state_ = Connection::State::accepting;  // not `connecting`: getpeername etc. answer at once
  connection->rule_ = listener->rule_;
  connection->bridge_ = this;
  connection->peer_ = client;
  connection->peer_address_ = client.to_string();
  connection->peer_data_ = client;
  connection->local_ = listener->local_;
  connection->framer_ = Framer(listener->rule_->framing);
  int fd = TMC_REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  fd = move_high_cloexec(fd);
  sockaddr_un own, target;
  socklen_t own_length = abstract_address(accepted_name(connection->id_, client), &own);
  socklen_t target_length = abstract_address(listener->unix_name_, &target);
  // Registered before connect(): the application's accept() may return as soon as connect()
  // does, and it looks the connection up (Bridge::find) to let its writes skip the socketpair
  // (send_direct); a connection not found then would take the bridge thread's hop for good.
  // Until the state is established below, send_direct refuses and deliveries are ignored.
  {
    std::lock_guard lock(mutex_);
    connections_[connection->id_] = connection;
  }
  auto unregister = [&] {
    std::lock_guard lock(mutex_);
    connections_.erase(connection->id_);
  };
  if (TMC_REAL(bind)(fd, reinterpret_cast<sockaddr*>(&own), own_length) != 0 ||
      TMC_REAL(connect)(fd, reinterpret_cast<sockaddr*>(&target), target_length) != 0) {
    // Backlog full (EAGAIN): drop the OPEN like a SYN; the client retries. The application's
    // listener gone (ECONNREFUSED/ENOENT): nobody will accept, refuse at once.
    int error = errno;
    unregister();
    log_debug("OPEN from {}: application listener not ready: {}", client.to_string(), std::strerror(error));
    FdTable::clear(fd);
    TMC_REAL(close)(fd);
    if (error == ECONNREFUSED || error == ENOENT) {
      listener->port_->send_control(TMC_CONTROL_REFUSE, token, client.to_string());
    }
    return;
  }
  connection->engine_fd_ = fd;
  try {
    InetEndpoint bind_to{listener->local_.address, 0};
    auto port = factory_->open(listener->rule_->manifest, bind_to.to_string());
    std::lock_guard lock(connection->out_mutex_);  // stats() may read port_ already
    connection->port_ = std::move(port);
  } catch (const std::exception& error) {
    log_warn("OPEN from {}: cannot open channel: {}", client.to_string(), error.what());
    unregister();
    FdTable::clear(fd);
    TMC_REAL(close)(fd);
    return;
  }
  connection->port_->set_peer(client.to_string());
  wire(connection);
  listener->opened_[key] = connection->id_;
  join_ordering_group(connection, "s " + std::to_string(listener->id_) + " " + client.address.to_string());
  connection->state_ = Connection::State::established;
  connection->reading_ = true;
  update_interest(connection);
  log_debug("accepted {} on data port {}", client.to_string(), connection->port_->local_port());
  listener->port_->send_control(TMC_CONTROL_OPEN_ACK, connection->port_->local_port(), client.to_string());
}

void Bridge::established(const std::shared_ptr<Connection>& connection, std::uint16_t data_port) {
  connection->port_->set_peer(connection->peer_address_);
  join_ordering_group(connection, "c " + connection->peer_.to_string());
  {
    std::lock_guard lock(connection->wait_mutex_);
    connection->state_ = Connection::State::established;
  }
  connection->wait_cv_.notify_all();
  connection->reading_ = true;
  log_debug("connected to {} (data port {})", connection->peer_address_, data_port);
  on_readable(connection);  // discards the filler, making the app end writable
  flush_out(connection);
  update_interest(connection);
}

void Bridge::fail(const std::shared_ptr<Connection>& connection, int error) {
  bool was_connecting = connection->state() == Connection::State::connecting;
  {
    std::lock_guard lock(connection->wait_mutex_);
    connection->error_ = error;
    connection->state_ = Connection::State::failed;
  }
  connection->wait_cv_.notify_all();
  log_debug("connection to {} failed: {}", connection->peer_address_, std::strerror(error));
  if (!was_connecting && error != ECONNRESET && connection->port_) {
    connection->port_->send_control(TMC_CONTROL_RESET, 0, connection->peer_address_);
  }
  destroy(connection);
}

void Bridge::update_interest(const std::shared_ptr<Connection>& connection) {
  if (connection->engine_fd_ < 0) return;
  std::uint32_t interest = 0;
  bool paused = connection->outstanding_bytes_.load() > static_cast<std::int64_t>(options_.max_outstanding_bytes);
  if (connection->reading_ && !connection->local_closed_ && !paused && !connection->held_) interest |= EPOLLIN;
  {
    std::lock_guard lock(connection->out_mutex_);
    if (connection->out_.size() > connection->out_start_ && !connection->broken_ && !connection->delivery_held_.load())
      interest |= EPOLLOUT;
  }
  if (connection->registered_ && interest == connection->interest_) return;
  epoll_event event{};
  event.events = interest;
  event.data.u64 = connection->id_;
  ::epoll_ctl(epoll_fd_, connection->registered_ ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, connection->engine_fd_, &event);
  connection->registered_ = true;
  connection->interest_ = interest;
}

void Bridge::on_readable(const std::shared_ptr<Connection>& connection, bool at_exit) {
  if (connection->state() != Connection::State::established) return;
  if (!at_exit && !connection->local_closed_ && !ordering_clear(connection)) {
    update_interest(connection);  // EPOLLIN off while held
    return;
  }
  if (read_buffer_.size() < kReadSize) read_buffer_.resize(kReadSize);  // bridge thread only
  std::byte* buffer = read_buffer_.data();
  bool failed = false, at_eof = false;
  {
    std::lock_guard send_lock(connection->send_mutex_);
    connection->bridge_reading_.store(true);
    // At exit everything the application wrote is read (its socketpair is bounded), whatever
    // the window: the engine queues it; an empty socketpair then counts as end of stream.
    const int rounds = at_exit ? 4096 : 16;
    for (int round = 0; round < rounds && !connection->local_closed_; ++round) {
      if (!at_exit &&
          connection->outstanding_bytes_.load() > static_cast<std::int64_t>(options_.max_outstanding_bytes)) {
        break;
      }
      ssize_t count = TMC_REAL(read)(connection->engine_fd_, buffer, kReadSize);
      if (count < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
          failed = true;
          break;
        }
        if (!at_exit) break;
        count = 0;
      }
      std::size_t offset = 0;
      if (connection->filler_remaining_ > 0) {
        offset = std::min(connection->filler_remaining_, static_cast<std::size_t>(count));
        connection->filler_remaining_ -= offset;
      }
      if (count == 0) {
        // The application shut its write side (or closed every copy of its fd, or exits).
        send_messages(connection, true);
        connection->local_closed_ = true;
        at_eof = true;
        break;
      }
      std::span<const std::byte> bytes(buffer + offset, static_cast<std::size_t>(count) - offset);
      auto& framer = connection->framer_;
      if (framer.framing() == Framing::stream && framer.buffered() == 0 && connection->port_ &&
          connection->state() == Connection::State::established) {
        // `stream` framing cuts at Framer::kChunk whatever the bytes are: send the chunks
        // straight from the read buffer (no copy into and out of the framer).
        emit_stream_chunks(connection, bytes);
      } else {
        framer.feed(bytes);
        send_messages(connection, false);
      }
    }
    connection->bridge_reading_.store(false);
  }
  if (failed) {
    fail(connection, ECONNRESET);
    return;
  }
  if (at_eof) {
    connection->close_repeats_ = 0;
    connection->next_retry_ = Clock::now();
    timers();
  }
  update_interest(connection);
  maybe_finish(connection);
}

bool Bridge::send_direct(const std::shared_ptr<Connection>& connection, const iovec* data, int count,
                         std::size_t total) {
  const bool stream_bulk = connection->framer_.framing() == Framing::stream && options_.direct_bulk;
  if (total == 0 || (total > kDirectSendLimit && !stream_bulk) ||
      connection->state() != Connection::State::established) {
    return false;
  }
  if (connection->outstanding_bytes_.load(std::memory_order_relaxed) + static_cast<std::int64_t>(total) >
      static_cast<std::int64_t>(options_.max_outstanding_bytes)) {
    return false;
  }
  ErrnoSaver saved;
  ShimScope scope;
  // Bytes that must wait behind a bulk connection of the group take the bridge's path, where
  // ordering_clear() holds them.
  if (group_has_bulk(*connection)) return false;
  std::lock_guard send_lock(connection->send_mutex_);
  // Re-checked under the lock: destroy() changes the state under it.
  if (connection->state() != Connection::State::established || connection->local_closed_ ||
      connection->filler_remaining_ > 0 || connection->engine_fd_ < 0) {
    return false;
  }
  // Anything unread in the socketpair (> 0) or its end (0: the application shut its write side)
  // must be handled by the bridge first.
  char peeked;
  if (TMC_REAL(recv)(connection->engine_fd_, &peeked, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN) return false;
  auto& framer = connection->framer_;
  if (stream_bulk && framer.buffered() == 0) {
    // `stream` cuts at Framer::kChunk whatever the bytes are: each chunk goes to the channel
    // straight from the application's buffer (the engine copies it before send() returns), as
    // on_readable() does from its read buffer — no socketpair, framer or bridge-thread hop.
    connection->direct_sends_.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < count; ++i) {
      std::span<const std::byte> bytes(static_cast<const std::byte*>(data[i].iov_base), data[i].iov_len);
      emit_stream_chunks(connection, bytes);
    }
    return true;
  }
  if (total > kDirectSendLimit) return false;
  if (framer.framing() == Framing::send_call) {
    std::lock_guard lock(connection->boundary_mutex_);
    if (!connection->pending_writes_.empty() || framer.buffered() != 0) return false;
    framer.add_boundary(total);
  }
  for (int i = 0; i < count; ++i) {
    framer.feed(std::span<const std::byte>(static_cast<const std::byte*>(data[i].iov_base), data[i].iov_len));
  }
  connection->direct_sends_.fetch_add(1, std::memory_order_relaxed);
  send_messages(connection, false);
  return true;
}

void Bridge::send_messages(const std::shared_ptr<Connection>& connection, bool at_eof) {
  if (connection->state() != Connection::State::established || !connection->port_) return;
  auto& framer = connection->framer_;
  bool writes_in_flight = false;
  if (framer.framing() == Framing::send_call) {
    std::lock_guard lock(connection->boundary_mutex_);
    while (!connection->pending_writes_.empty() && connection->pending_writes_.front().final) {
      framer.add_boundary(connection->pending_writes_.front().length);
      connection->pending_writes_.pop_front();
    }
    writes_in_flight = !connection->pending_writes_.empty();
  }
  while (auto message = framer.next()) emit_message(connection, *message);
  // send-call bytes no recorded write accounts for (sendfile, splice): one message.
  if (at_eof || (framer.framing() == Framing::send_call && !writes_in_flight)) {
    while (auto message = framer.flush()) emit_message(connection, *message);
  }
}

// `stream` framing cuts at Framer::kChunk whatever the bytes are, so bytes nothing is buffered
// before can be emitted chunk by chunk from where they lie, without the framer's copy.
void Bridge::emit_stream_chunks(const std::shared_ptr<Connection>& connection, std::span<const std::byte> bytes) {
  for (std::size_t at = 0; at < bytes.size(); at += Framer::kChunk)
    emit_message(connection, bytes.subspan(at, std::min(Framer::kChunk, bytes.size() - at)));
}

void Bridge::emit_message(const std::shared_ptr<Connection>& connection, std::span<const std::byte> message) {
  const Manifest* per_message = connection->rule().manifest_for(message);
  auto size = static_cast<std::int64_t>(message.size());
  connection->outstanding_bytes_ += size;
  connection->bytes_emitted_ += static_cast<std::uint64_t>(size);
  ++connection->messages_sent_;
  std::weak_ptr<Connection> weak = connection;
  connection->port_->send(message, per_message, [this, weak, size] {
    if (auto connection = weak.lock()) {
      connection->bytes_decided_ += static_cast<std::uint64_t>(size);
      if (connection->watched_.load(std::memory_order_relaxed)) wake();  // a held connection re-checks
      auto before = connection->outstanding_bytes_.fetch_sub(size);
      if (before > static_cast<std::int64_t>(options_.max_outstanding_bytes) &&
          before - size <= static_cast<std::int64_t>(options_.max_outstanding_bytes)) {
        std::lock_guard lock(mutex_);
        dirty_.push_back(connection->id_);
      }
      if (connection->local_closed_ && before == size) {
        // The last completion of a closing connection: the bridge may finish it now.
        std::lock_guard lock(mutex_);
        dirty_.push_back(connection->id_);
      }
      // Only then is the bridge thread needed (no wake-up per message on the hot path).
      if ((connection->local_closed_ && before == size) ||
          (before > static_cast<std::int64_t>(options_.max_outstanding_bytes) &&
           before - size <= static_cast<std::int64_t>(options_.max_outstanding_bytes))) {
        wake();
      }
    }
  });
}

void Bridge::deliver(const std::shared_ptr<Connection>& connection, std::vector<std::byte>&& payload,
                     const sockaddr_storage& source) {
  // peer_address_ is final once the state is established (written before the state).
  auto from = endpoint_from_storage(source);
  if (connection->state() != Connection::State::established || from.port != connection->peer_data_.port ||
      from.address != connection->peer_data_.address) {
    return;  // not from this connection's peer (e.g. a retransmission to a reused port)
  }
  bool need_bridge = false;
  bool hold = !connection->delivery_held_.load() && earlier_bytes_unread(*connection);
  connection->bytes_delivered_ += payload.size();
  {
    std::lock_guard lock(connection->out_mutex_);
    if (connection->broken_ || connection->peer_closed_) return;
    ++connection->delivered_;
    if (hold) {
      connection->delivery_held_ = true;
      connection->delivery_deadline_ = Clock::now() + kMaxDeliveryHold;
      need_bridge = true;
    }
    if (connection->out_.size() == connection->out_start_ && !connection->delivery_held_.load()) {
      // Fast path: write straight to the engine end.
      ssize_t written = TMC_REAL(send)(connection->engine_fd_, payload.data(), payload.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      std::size_t done = written > 0 ? static_cast<std::size_t>(written) : 0;
      if (written < 0 && errno != EAGAIN && errno != EINTR) {
        connection->broken_ = true;
        need_bridge = true;
      } else if (done < payload.size()) {
        connection->out_.assign(payload.begin() + static_cast<std::ptrdiff_t>(done), payload.end());
        connection->out_start_ = 0;
        need_bridge = true;
      }
    } else {
      if (connection->out_.size() == connection->out_start_) {
        connection->out_.clear();
        connection->out_start_ = 0;
      }
      connection->out_.insert(connection->out_.end(), payload.begin(), payload.end());
    }
    if (connection->peer_close_count_ && connection->delivered_ >= *connection->peer_close_count_) need_bridge = true;
  }
  if (need_bridge) {
    {
      std::lock_guard lock(mutex_);
      dirty_.push_back(connection->id_);
    }
    wake();
  }
}

void Bridge::flush_out(const std::shared_ptr<Connection>& connection) {
  if (connection->delivery_held_.load()) {
    bool still = earlier_bytes_unread(*connection);
    std::lock_guard lock(connection->out_mutex_);
    if (still && Clock::now() < connection->delivery_deadline_ && !connection->broken_) {
      std::lock_guard held(delivery_held_mutex_);
      delivery_held_.push_back(connection);
      return;  // re-checked by release_held() (at least every epoll timeout)
    }
    connection->delivery_held_ = false;
  }
  bool broken = false;
  {
    std::lock_guard lock(connection->out_mutex_);
    while (connection->out_.size() > connection->out_start_ && !connection->broken_) {
      ssize_t written = TMC_REAL(send)(connection->engine_fd_, connection->out_.data() + connection->out_start_,
                                       connection->out_.size() - connection->out_start_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        connection->broken_ = true;
        break;
      }
      connection->out_start_ += static_cast<std::size_t>(written);
    }
    if (connection->out_start_ == connection->out_.size()) {
      connection->out_.clear();
      connection->out_start_ = 0;
    }
    broken = connection->broken_;
  }
  if (broken) {
    // The application closed its end while the peer still sends: abort like TCP's RST.
    fail(connection, EPIPE);
    return;
  }
  update_interest(connection);
}

void Bridge::maybe_finish(const std::shared_ptr<Connection>& connection) {
  if (connection->state() != Connection::State::established) return;
  {
    std::lock_guard lock(connection->out_mutex_);
    if (!connection->peer_closed_ && connection->peer_close_count_ && connection->out_.size() == connection->out_start_ &&
        (connection->delivered_ >= *connection->peer_close_count_ || Clock::now() >= connection->peer_close_deadline_)) {
      connection->peer_closed_ = true;
      TMC_REAL(shutdown)(connection->engine_fd_, SHUT_WR);  // the application reads EOF
    }
  }
  if (connection->local_closed_ && connection->peer_closed_ && connection->outstanding_bytes_.load() <= 0 &&
      connection->close_repeats_ >= kCloseRepeats) {
    destroy(connection);
  }
}

void Bridge::timers() {
  auto now = Clock::now();
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, connection] : connections_) all.push_back(connection);
  }
  for (auto& connection : all) {
    auto state = connection->state();
    if (state == Connection::State::connecting) {
      if (now >= connection->deadline_) {
        fail(connection, ETIMEDOUT);
      } else if (now >= connection->next_retry_) {
        connection->port_->send_control(TMC_CONTROL_OPEN, connection->token_, connection->peer_address_);
        connection->retry_interval_ = std::min(connection->retry_interval_ * 2, std::chrono::milliseconds(1000));
        connection->next_retry_ = now + connection->retry_interval_;
      }
      continue;
    }
    if (state != Connection::State::established) continue;
    // CLOSE after the last message was handed to the engine; repeated (control is unreliable).
    if (connection->local_closed_ && connection->close_repeats_ < kCloseRepeats && now >= connection->next_retry_) {
      connection->port_->send_control(TMC_CONTROL_CLOSE, static_cast<std::uint32_t>(connection->messages_sent_),
                                      connection->peer_address_);
      ++connection->close_repeats_;
      connection->next_retry_ = now + kCloseRepeat;
    }
    maybe_finish(connection);
  }
}

void Bridge::destroy(const std::shared_ptr<Connection>& connection) {
  {
    std::lock_guard lock(mutex_);
    if (!connections_.erase(connection->id_)) return;
  }
  ShimScope scope;
  {
    // No direct send is in progress once the state has changed (send_direct checks it under
    // the same lock), so none reaches a closed channel.
    std::lock_guard send_lock(connection->send_mutex_);
    if (connection->state() == Connection::State::established) connection->state_ = Connection::State::closed;
    if (connection->port_) connection->port_->close();
  }
  // The channel is destroyed here, on the bridge thread, while this function still owns the
  // connection: ~Channel waits for a running handler of it to return, and no handler runs after.
  // Otherwise the runtime thread could drop the last reference from inside a completion or
  // delivery callback of that very channel (whose mutex it may hold) and destroy the channel
  // under its own feet.
  std::unique_ptr<ChannelPort> port;
  {
    std::lock_guard lock(connection->out_mutex_);  // deliver() writes to engine_fd_ under it
    connection->broken_ = true;
    if (connection->engine_fd_ >= 0) {
      if (connection->registered_) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection->engine_fd_, nullptr);
      FdTable::clear(connection->engine_fd_);
      TMC_REAL(close)(connection->engine_fd_);
      connection->engine_fd_ = -1;
    }
    port = std::move(connection->port_);
  }
  if (port) port->close();
  port.reset();
  log_debug("connection {} to {} closed", connection->id_, connection->peer_address_);
}

std::string Bridge::stats(bool prometheus) {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, connection] : connections_) all.push_back(connection);
  }
  std::ostringstream out;
  if (prometheus) {
    out << "# TYPE tmc_shim_messages_sent_total counter\n# TYPE tmc_shim_bytes_sent_total counter\n"
           "# TYPE tmc_shim_messages_delivered_total counter\n# TYPE tmc_shim_bytes_delivered_total counter\n"
           "# TYPE tmc_shim_retransmissions_total counter\n# TYPE tmc_shim_abandoned_total counter\n"
           "# TYPE tmc_shim_smoothed_rtt_seconds gauge\n# TYPE tmc_shim_direct_writes_total counter\n";
  }
  for (auto& connection : all) {
    PortStats stats;
    {
      std::lock_guard lock(connection->out_mutex_);  // destroy() takes port_ under it
      if (!connection->port_) continue;
      stats = connection->port_->stats();
    }
    if (prometheus) {
      std::string labels = "{rule=\"" + connection->rule().name + "\",peer=\"" + connection->peer_.to_string() +
                           "\",connection=\"" + std::to_string(connection->id_) + "\"}";
      out << "tmc_shim_messages_sent_total" << labels << " " << stats.messages_sent << "\n"
          << "tmc_shim_bytes_sent_total" << labels << " " << stats.bytes_sent << "\n"
          << "tmc_shim_messages_delivered_total" << labels << " " << stats.messages_delivered << "\n"
          << "tmc_shim_bytes_delivered_total" << labels << " " << stats.bytes_delivered << "\n"
          << "tmc_shim_retransmissions_total" << labels << " " << stats.retransmissions << "\n"
          << "tmc_shim_abandoned_total" << labels << " " << stats.abandoned << "\n"
          << "tmc_shim_smoothed_rtt_seconds" << labels << " " << stats.smoothed_rtt_us / 1e6 << "\n"
          << "tmc_shim_direct_writes_total" << labels << " " << connection->direct_sends_.load() << "\n";
    } else {
      out << "connection " << connection->id_ << " rule " << connection->rule().name << " "
          << to_string(connection->rule().role) << " " << connection->local_.to_string() << " -> "
          << connection->peer_.to_string() << "\n"
          << "  messages sent " << stats.messages_sent << " (" << stats.bytes_sent << " B), delivered "
          << stats.messages_delivered << " (" << stats.bytes_delivered << " B)\n"
          << "  packets sent " << stats.packets_sent << ", received " << stats.packets_received << ", retransmissions "
          << stats.retransmissions << ", abandoned " << stats.abandoned << ", malformed " << stats.malformed_dropped
          << "\n  udp gso sends " << stats.gso_sends << " (" << stats.gso_segments << " packets), gro receives "
          << stats.gro_receives << " (" << stats.gro_segments << " packets), corked " << stats.corked_packets
          << " packets"
          << "\n  rtt smoothed " << stats.smoothed_rtt_us << " us, p99 " << stats.rtt_p99_us << " us\n"
          << "  writes sent directly (no socketpair hop) " << connection->direct_sends_.load() << "\n";
    }
  }
  if (!prometheus && all.empty()) out << "no matched connections\n";
  return out.str();
}

}  // namespace tmc::shim
