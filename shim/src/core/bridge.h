// The bridging core: joins the application's kernel fds to TMC channels.
//
// fd model (docs/shim.md): a matched stream socket is one end of an AF_UNIX socketpair placed
// on the application's fd number; the bridge holds the other end ("engine end") and moves
// bytes between it and a ChannelPort, cutting them into messages with the rule's framing. A
// matched server socket is an AF_UNIX listener the bridge connects to once per accepted TMC
// connection; the connecting socket's abstract name carries the peer's INET address, so any
// process holding the listener (also a fork child) can report it from accept().
//
// Connection handshake (TMC_TYPE_CONTROL, wire_format.h):
//   client port (ephemeral UDP)  --OPEN(token)-->         server listener port (UDP port = TCP port)
//   client port                  <--OPEN_ACK(data port)-- server listener port
//   data then flows between the client port and the server's per-connection data port.
//   OPEN is retransmitted with backoff until OPEN_ACK, REFUSE (ECONNREFUSED) or the connect
//   timeout (ETIMEDOUT). CLOSE(argument = messages sent) ends one direction once that many
//   messages were delivered (or the linger time passed on unreliable channels); RESET aborts.
//
// Threads: one bridge thread runs an epoll loop over the engine ends and all control work
// (channel creation included); the channel runtime thread only queues events for it and
// writes received messages to engine ends. The hot path skips the bridge thread both ways:
// an application's write on an established connection is framed and handed to the channel on
// the application's own thread (Bridge::send_direct) whenever nothing it wrote earlier still
// waits in the socketpair, and deliveries are written to the engine end by the runtime thread.
#pragma once

#include <sys/epoll.h>
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/channel_port.h"
#include "core/framing.h"
#include "policy/policy.h"

namespace tmc::shim {

class Bridge;
class Connection;

// The connections of one ordering group (see Bridge::ordering_clear); shared with the runtime
// thread, which checks it on delivery.
struct OrderingGroup {
  std::mutex mutex;
  std::vector<std::weak_ptr<Connection>> members;
  std::atomic<std::size_t> size{0};  // members.size(), readable without the lock
};

class Connection {
 public:
  // accepting: a server-side connection between its registration and the end of
  // Bridge::accept_open (the application's accept() may already have returned it).
  enum class State { connecting, accepting, established, closed, failed };

  std::uint64_t id() const { return id_; }
  State state() const { return state_.load(); }
  int error() const { return error_.load(); }  // errno value once failed
  const Rule& rule() const { return *rule_; }
  const InetEndpoint& peer() const { return peer_; }
  const InetEndpoint& local() const { return local_; }
  Bridge* owner() const { return bridge_; }

  // send-call framing: the application thread brackets each write on the socket.
  std::uint64_t begin_write(std::size_t length);
  void end_write(std::uint64_t token, ssize_t written);

 private:
  friend class Bridge;
  struct PendingWrite {
    std::uint64_t token;
    std::size_t length;
    bool final;
  };

  std::uint64_t id_ = 0;
  const Rule* rule_ = nullptr;
  Bridge* bridge_ = nullptr;
  InetEndpoint peer_, local_;
  std::string peer_address_;    // the peer's data port ("host:port"); final once established
  InetEndpoint peer_data_;      // the same, parsed (deliveries are checked against it)
  std::string open_address_;    // client: where OPEN went (OPEN_ACK/REFUSE must come from there)
  std::uint32_t token_ = 0;     // client's OPEN argument
  std::unique_ptr<ChannelPort> port_;
  int engine_fd_ = -1;
  std::atomic<State> state_{State::connecting};
  std::atomic<int> error_{0};
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;

  // The send side: the bridge thread (bytes read from the socketpair) and application threads
  // (Bridge::send_direct) frame and send under send_mutex_, so messages leave in the order
  // their bytes were written.
  std::mutex send_mutex_;
  Framer framer_{Framing::stream};
  std::size_t filler_remaining_ = 0;  // nonblocking connect: bytes to discard before data
  std::atomic<bool> local_closed_{false};  // app shut its write side; CLOSE sent
  std::uint64_t messages_sent_ = 0;
  std::atomic<std::uint64_t> direct_sends_{0};  // writes that skipped the socketpair (stats)

  // Bridge-thread state.
  bool reading_ = false;              // EPOLLIN armed
  bool registered_ = false;
  std::uint32_t interest_ = 0;
  int close_repeats_ = 0;
  std::chrono::steady_clock::time_point next_retry_{};
  std::chrono::steady_clock::time_point deadline_{};
  std::chrono::milliseconds retry_interval_{100};

  // Ordering across the connections of one group (ordering_key_: same destination, or same
  // listener and peer host): bytes read here wait until earlier bulk bytes of the group's other
  // connections were decided by the engine (Bridge::ordering_clear).
  std::string ordering_key_;
  std::shared_ptr<OrderingGroup> ordering_group_;  // set before the state becomes established
  std::atomic<std::uint64_t> bytes_delivered_{0};   // written to the engine end or out_
  std::atomic<bool> delivery_held_{false};          // out_ waits for the group's earlier bytes
  std::chrono::steady_clock::time_point delivery_deadline_{};  // under out_mutex_
  std::atomic<std::uint64_t> bytes_emitted_{0};     // bytes handed to the channel
  // True while the bridge thread holds bytes it read from the socketpair but has not emitted
  // yet (between the socketpair and outstanding_bytes_; see Bridge::bulk).
  std::atomic<bool> bridge_reading_{false};
  std::atomic<std::uint64_t> bytes_decided_{0};     // ... of which the engine has decided
  std::atomic<bool> watched_{false};                // another connection waits on bytes_decided_
  bool held_ = false;                               // reading paused behind other connections
  std::chrono::steady_clock::time_point hold_deadline_{};
  std::vector<std::pair<std::weak_ptr<Connection>, std::uint64_t>> hold_targets_;

  // Shared with the runtime thread (completions, deliveries).
  std::atomic<std::int64_t> outstanding_bytes_{0};
  std::mutex out_mutex_;
  std::vector<std::byte> out_;        // received, not yet written to the engine end
  std::size_t out_start_ = 0;
  std::uint64_t delivered_ = 0;
  std::optional<std::uint64_t> peer_close_count_;
  std::chrono::steady_clock::time_point peer_close_deadline_{};
  bool peer_closed_ = false;          // SHUT_WR done on the engine end
  bool broken_ = false;               // engine end write failed (application gone)

  std::mutex boundary_mutex_;
  std::deque<PendingWrite> pending_writes_;
  std::uint64_t next_token_ = 1;
};

class Listener {
 public:
  std::uint64_t id() const { return id_; }
  const InetEndpoint& local() const { return local_; }
  std::uint16_t channel_port() const;
  const std::string& unix_name() const { return unix_name_; }
  int reserved_fd = -1;  // the original INET socket, kept bound (internal fd)

 private:
  friend class Bridge;
  std::uint64_t id_ = 0;
  const Rule* rule_ = nullptr;
  InetEndpoint local_;
  std::string unix_name_;  // abstract name of the application's AF_UNIX listener
  std::unique_ptr<ChannelPort> port_;
  std::map<std::pair<std::string, std::uint32_t>, std::uint64_t> opened_;  // (client, token) -> connection
  bool closed_ = false;
};

class Bridge {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds first_retry{100};
    // Reading from the application pauses above this many unacknowledged bytes. It bounds a
    // bulk connection's rate at max_outstanding_bytes / RTT, and under loss a message's bytes
    // stay unacknowledged until its lost fragments are retransmitted: 1 MiB keeps a 4 Gbit/s
    // stream going over a 2 ms (loaded) RTT. Not larger: bytes held here are bytes the
    // cross-connection ordering (ordering_clear) makes a competing connection wait for, and
    // memory per bulk connection (kernel TCP's send buffer is the comparison: 4 MiB at most).
    std::size_t max_outstanding_bytes = 1u << 20;
    // `stream` framing: a direct send (send_direct) of any size within max_outstanding_bytes,
    // cut at Framer::kChunk straight from the application's buffers, instead of at most 16 KiB
    // ($TMC_SHIM_DIRECT_BULK=1). Off by default: it saves the socketpair's two copies and the
    // bridge-thread hop, but the application's thread then does every sendmmsg itself, and
    // where the kernel segments in software (harness offloads nic) the pipelining the bridge
    // thread gives measured worth more (docs/shim.md, session 4).
    bool direct_bulk = false;
  };

  explicit Bridge(std::shared_ptr<ChannelFactory> factory) : Bridge(std::move(factory), Options{}) {}
  Bridge(std::shared_ptr<ChannelFactory> factory, Options options);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  struct Opened {
    int app_fd = -1;  // the application's end: AF_UNIX, O_CLOEXEC; the caller dup3s it into place
    int error = 0;    // errno value when app_fd < 0
  };

  // Starts connecting `rule`'s channel to `destination`. `nonblocking` arms the app end so
  // that it polls not-writable until the handshake ends (EINPROGRESS semantics).
  Opened connect(const Rule& rule, const InetEndpoint& destination, const IpAddress& local_ip, bool nonblocking,
                 std::shared_ptr<Connection>* connection);
  // Blocks until the handshake ends; returns 0 or the errno value.
  int wait_connected(Connection& connection);

  // Application thread, on a connection of this process: frames the `total` bytes of `data`
  // and hands them to the channel at once, as if the bridge had read them from the
  // socketpair. Refuses (returns false: write to the socketpair instead) unless the connection
  // is established, its write side open, nothing written earlier is still unread in the
  // socketpair (checked with MSG_PEEK, so bytes from sendfile/splice or a fork child keep
  // their order), no send-call boundary is pending, and the unacknowledged bytes stay below
  // max_outstanding_bytes (above it the socketpair's own buffer gives TCP's backpressure).
  // errno is preserved.
  bool send_direct(const std::shared_ptr<Connection>& connection, const iovec* data, int count, std::size_t total);

  // A listener for `rule` on `local` (its UDP port = the TCP port). app_fd is an AF_UNIX listener.
  Opened listen(const Rule& rule, const InetEndpoint& local, int backlog, std::shared_ptr<Listener>* listener);
  void close_listener(const std::shared_ptr<Listener>& listener);

  // For an fd accept() returned from a bridged listener: the TMC peer and connection id.
  static std::optional<InetEndpoint> accepted_peer(int app_fd, std::uint64_t* connection_id);
  std::shared_ptr<Connection> find(std::uint64_t connection_id);

  std::string stats(bool prometheus);
  std::size_t connection_count();

  // After fork, in the child: the bridge thread does not exist there. Leaks this object's
  // state on purpose (its fds are closed by the caller); a new Bridge serves the child.
  // At process exit (the library's destructor): every established connection ends as the
  // kernel would end a TCP connection of an exiting process — the bytes its application wrote
  // are sent, then CLOSE — and the caller waits until the engine decided them and the CLOSE
  // repeats went out, at most `budget`. Without this the peer would never read EOF (the
  // bridge dies with the process). Not after _exit() or a crash.
  void close_all_at_exit(std::chrono::milliseconds budget);

  void abandon_after_fork();
  void wake();  // the bridge thread re-examines its connections
  void mark_dirty(std::uint64_t connection_id);  // ... and this one in particular

 private:
  void run();
  void handle_control(std::uint64_t owner, bool is_listener, std::uint8_t subtype, std::uint32_t argument,
                      const sockaddr_storage& source);
  void accept_open(const std::shared_ptr<Listener>& listener, std::uint32_t token, const InetEndpoint& client);
  void established(const std::shared_ptr<Connection>& connection, std::uint16_t data_port);
  void fail(const std::shared_ptr<Connection>& connection, int error);
  void on_readable(const std::shared_ptr<Connection>& connection, bool at_exit = false);
  void exit_step();
  void flush_out(const std::shared_ptr<Connection>& connection);
  void deliver(const std::shared_ptr<Connection>& connection, std::vector<std::byte>&& payload,
               const sockaddr_storage& source);
  // Under connection->send_mutex_.
  void send_messages(const std::shared_ptr<Connection>& connection, bool at_eof);
  void emit_message(const std::shared_ptr<Connection>& connection, std::span<const std::byte> message);
  void emit_stream_chunks(const std::shared_ptr<Connection>& connection, std::span<const std::byte> bytes);
  void update_interest(const std::shared_ptr<Connection>& connection);
  void timers();
  void maybe_finish(const std::shared_ptr<Connection>& connection);
  void destroy(const std::shared_ptr<Connection>& connection);
  void wire(const std::shared_ptr<Connection>& connection);
  void join_ordering_group(const std::shared_ptr<Connection>& connection, std::string key);
  bool ordering_clear(const std::shared_ptr<Connection>& connection);
  void release_held();
  static bool earlier_bytes_unread(const Connection& connection);
  bool group_has_bulk(const Connection& connection) const;
  static bool bulk(const Connection& connection);

  std::shared_ptr<ChannelFactory> factory_;
  Options options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> exit_requested_{false};
  std::mutex exit_mutex_;
  std::condition_variable exit_cv_;
  bool exit_done_ = false;  // under exit_mutex_
  bool abandoned_ = false;
  std::thread thread_;

  std::mutex mutex_;  // guards the maps and the event queue
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::map<std::uint64_t, std::shared_ptr<Listener>> listeners_;
  struct ControlEvent {
    std::uint64_t owner;
    bool is_listener;
    std::uint8_t subtype;
    std::uint32_t argument;
    sockaddr_storage source;
  };
  std::deque<ControlEvent> events_;
  std::deque<std::uint64_t> dirty_;  // connections whose epoll interest may have changed
  // Bridge thread only: connections per ordering key, and the connections held behind them.
  std::map<std::string, std::shared_ptr<OrderingGroup>> ordering_groups_;
  std::vector<std::weak_ptr<Connection>> held_;
  std::mutex delivery_held_mutex_;
  std::vector<std::weak_ptr<Connection>> delivery_held_;  // any thread adds, the bridge thread re-checks
  std::atomic<std::uint64_t> next_id_{1};
  std::vector<std::byte> read_buffer_;  // bridge thread: on_readable's reads from the socketpair
};

// Helpers shared with socket_ops.
std::string abstract_listener_name(std::uint64_t listener_id);
int move_high_cloexec(int fd);  // dups fd to >= kInternalFdBase with O_CLOEXEC, closes the original
// The bridge threads' event loop (stream Bridge and DatagramBridge): an epoll instance with a
// nonblocking eventfd registered under kBridgeWakeId; both internal (high-numbered, O_CLOEXEC).
constexpr std::uint64_t kBridgeWakeId = 0;
void open_wakeable_epoll(int& epoll_fd, int& wake_fd);
void wake_eventfd(int wake_fd);  // makes the loop's epoll_wait return
void drain_eventfd(int wake_fd);  // on kBridgeWakeId: reads the nonblocking eventfd empty
// One turn of that loop: waits up to timeout_ms, drains the eventfd, and for every other event
// calls find(id) and, when it yields an object, on_writable(object) on EPOLLOUT and then
// on_readable(object) on EPOLLIN/EPOLLHUP/EPOLLERR.
template <class Find, class OnWritable, class OnReadable>
void dispatch_epoll_events(int epoll_fd, int wake_fd, int timeout_ms, Find&& find, OnWritable&& on_writable,
                           OnReadable&& on_readable) {
  epoll_event events[64];
  int count = ::epoll_wait(epoll_fd, events, 64, timeout_ms);
  for (int i = 0; i < count; ++i) {
    auto id = events[i].data.u64;
    if (id == kBridgeWakeId) {
      drain_eventfd(wake_fd);
      continue;
    }
    auto object = find(id);
    if (!object) continue;
    if (events[i].events & EPOLLOUT) on_writable(object);
    if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(object);
  }
}
constexpr int kInternalFdBase = 900;

}  // namespace tmc::shim
