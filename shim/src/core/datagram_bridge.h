// The datagram half of the bridging core: joins matched UDP sockets (udp-sender, udp-receiver)
// to TMC channels, one channel per socket, each datagram one channel message.
//
// fd model (docs/shim.md): a matched UDP socket becomes one end of an AF_UNIX SOCK_SEQPACKET
// socketpair placed on the application's fd number (record boundaries, poll/epoll, blocking and
// nonblocking I/O stay the kernel's; SEQPACKET rather than DGRAM so the engine end sees EOF
// when the last copy of the application's end is closed, also in a fork child). Every record
// on the pair starts with a DatagramHeader carrying the peer's INET address: the destination
// on the way to the bridge, the true source (the peer application's address) on the way back.
// The interposed send/recv family adds and strips it (datagram_ops.h).
//
// Destinations: a datagram to the rule's virtual destination of a `group:` mapping goes to every
// member (one IP multicast packet when the mapping names a group, else unicast fan-out); any
// other destination is a unicast message to that address, whose socket must run the shim too.
// Receivers bound on a group member's address join that member's multicast group.
//
// Threads: one bridge thread runs an epoll loop over the engine ends (application datagrams to
// channel sends) and retries deliveries the application's end could not take at once; the
// channel runtime thread writes deliveries straight to the engine end.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/channel_port.h"
#include "policy/policy.h"

namespace tmc::shim {

// The record header on the socketpair. Addresses are IPv4-mapped IPv6 (policy/address.h).
struct DatagramHeader {
  static constexpr std::uint32_t kMagic = 0x544d4344;  // "TMCD"
  std::uint32_t magic = kMagic;
  std::uint16_t port = 0;  // host order
  std::uint16_t has_address = 0;
  std::array<std::uint8_t, 16> address{};

  static DatagramHeader of(const InetEndpoint& endpoint);
  InetEndpoint endpoint() const;
};
static_assert(sizeof(DatagramHeader) == 24);

// UDP's limit on one datagram's payload (RFC 768 length field minus the IPv4 and UDP headers).
constexpr std::size_t kMaxUdpPayload = 65507;

class DatagramBridge;

class DatagramSocket {
 public:
  std::uint64_t id() const { return id_; }
  const Rule& rule() const { return *rule_; }
  const InetEndpoint& local() const { return local_; }
  std::uint16_t channel_port() const;
  std::optional<InetEndpoint> peer() const;
  std::vector<std::string> joined_groups() const;
  std::uint64_t dropped_deliveries() const { return dropped_deliveries_.load(); }
  // Records on the socketpair without the shim's header (written around the interposed calls).
  std::uint64_t malformed_records() const { return malformed_records_.load(); }

 private:
  friend class DatagramBridge;
  std::uint64_t id_ = 0;
  const Rule* rule_ = nullptr;
  InetEndpoint local_;
  std::unique_ptr<ChannelPort> port_;
  int engine_fd_ = -1;
  bool registered_ = false;
  std::uint32_t interest_ = 0;
  std::atomic<bool> app_closed_{false};  // engine end read EOF: every copy of the application's end is closed
  std::chrono::steady_clock::time_point linger_until_{};

  mutable std::mutex state_mutex_;  // peer_, members_, groups_
  std::optional<InetEndpoint> peer_;      // connect(): only its datagrams are delivered
  std::vector<std::string> member_addresses_;  // group members ("host:port"), also accepted when connected
  std::vector<std::string> groups_;

  std::atomic<std::int64_t> outstanding_bytes_{0};
  std::atomic<std::int64_t> queued_records_{0};  // written to the socketpair by the owner, not yet sent
  std::mutex out_mutex_;                  // deliveries waiting for room on the engine end
  std::deque<std::vector<std::byte>> out_;  // header + payload records
  std::size_t out_bytes_ = 0;
  bool broken_ = false;
  std::atomic<std::uint64_t> dropped_deliveries_{0};
  std::atomic<std::uint64_t> malformed_records_{0};
};

class DatagramBridge {
 public:
  struct Options {
    // Reading from the application pauses above this many unacknowledged bytes.
    std::size_t max_outstanding_bytes = 4u << 20;
    // Deliveries buffered for an application that does not read; beyond, they are dropped
    // (as a full UDP receive buffer drops) and counted.
    std::size_t max_buffered_bytes = 8u << 20;
    // After the application closed the socket: how long reliable sends may still complete.
    std::chrono::milliseconds close_linger{2000};
  };

  DatagramBridge(std::shared_ptr<ChannelFactory> factory, Options options);
  ~DatagramBridge();
  DatagramBridge(const DatagramBridge&) = delete;
  DatagramBridge& operator=(const DatagramBridge&) = delete;

  struct Opened {
    int app_fd = -1;  // the application's end: AF_UNIX SOCK_SEQPACKET, O_CLOEXEC; the caller dup3s it
    int error = 0;    // errno value when app_fd < 0
  };

  // A channel for `rule` bound to UDP `bind_to` (port 0: ephemeral). `reported_local` is the
  // address getsockname() shows (its port 0 is replaced by the channel's port). Receivers on a
  // group member's address join that group (`policy` names the mappings).
  Opened open(const Rule& rule, const InetEndpoint& bind_to, InetEndpoint reported_local, const Policy& policy,
              std::shared_ptr<DatagramSocket>* socket);
  // connect(): from now on only `peer` (or, for a group's virtual destination, its members) is
  // delivered; nullopt = AF_UNSPEC, accept every source again.
  void set_peer(DatagramSocket& socket, std::optional<InetEndpoint> peer);
  // The application thread's own send (owner process only): the datagram goes to the channel at
  // once, skipping the hop through the socketpair and the bridge thread. False when it must take
  // the socketpair instead, to keep order behind records queued there or to wait for
  // acknowledgements (then the kernel's blocking/EAGAIN semantics of that path apply).
  bool send_direct(const std::shared_ptr<DatagramSocket>& socket, const InetEndpoint& destination,
                   std::span<const std::byte> payload);
  // Before the owner writes a record to the socketpair (send_direct said no).
  static void note_queued(DatagramSocket& socket) { ++socket.queued_records_; }
  static void note_unqueued(DatagramSocket& socket);  // a record left the socketpair (never below 0)

  // IP_ADD_MEMBERSHIP: also receive what is sent to `group` ("239.1.2.3:7000"). 0 or errno.
  int join_group(DatagramSocket& socket, const std::string& group);

  std::string stats(bool prometheus);
  std::size_t socket_count();
  std::shared_ptr<DatagramSocket> find(std::uint64_t id);

  // After fork, in the child (see Bridge::abandon_after_fork).
  void abandon_after_fork();

  // Whether `destination` is the virtual destination of `rule`'s group mapping.
  static bool is_group_destination(const Rule& rule, const InetEndpoint& destination);

 private:
  void run();
  void wake();
  void on_readable(const std::shared_ptr<DatagramSocket>& socket);
  void send_datagram(const std::shared_ptr<DatagramSocket>& socket, std::span<const std::byte> record);
  void send_to_channel(const std::shared_ptr<DatagramSocket>& socket, const InetEndpoint& destination,
                       std::span<const std::byte> payload);
  void deliver(const std::shared_ptr<DatagramSocket>& socket, std::vector<std::byte>&& payload,
               const sockaddr_storage& source);
  void flush_out(const std::shared_ptr<DatagramSocket>& socket);
  void update_interest(const std::shared_ptr<DatagramSocket>& socket);
  void mark_dirty(std::uint64_t id);
  void maybe_destroy(const std::shared_ptr<DatagramSocket>& socket);
  void destroy(const std::shared_ptr<DatagramSocket>& socket);

  std::shared_ptr<ChannelFactory> factory_;
  Options options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  bool abandoned_ = false;
  std::thread thread_;

  std::mutex mutex_;  // sockets_ and dirty_
  std::map<std::uint64_t, std::shared_ptr<DatagramSocket>> sockets_;
  std::deque<std::uint64_t> dirty_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace tmc::shim
