// The shim's view of file descriptors: a flat, fd-indexed byte array for the hot path and a
// side map of SocketState for the few fds the shim manages.
//
// Hot-path contract: an interposed call on fd N costs one load of flags(N) and a branch when
// N is not managed. Managed fds (matched sockets) have kManaged; fds the shim or engine opened
// have kInternal (protected from the application's close/dup2/close_range).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace tmc::shim {

struct Rule;
class Connection;
class Listener;
class DatagramSocket;

// What the application believes a managed fd is, and the bridge objects behind it.
struct SocketState {
  enum class Kind { stream_connecting, stream_connected, stream_listener, datagram };
  Kind kind = Kind::stream_connected;
  int family = AF_INET;  // the INET family the application created
  int type = SOCK_STREAM;
  int protocol = 0;
  sockaddr_storage local{};
  socklen_t local_length = 0;
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
  const Rule* rule = nullptr;
  int owner_pid = 0;  // process whose bridge owns `connection`/`listener` (fork children do not)
  std::shared_ptr<Connection> connection;
  std::shared_ptr<Listener> listener;
  std::shared_ptr<DatagramSocket> datagram;  // Kind::datagram (datagram_bridge.h)
  std::atomic<int> pending_error{0};  // SO_ERROR
  std::atomic<bool> restore_send_buffer{false};
  int send_buffer_request = 0;  // SO_SNDBUF the application set before connect (0: default)
  std::atomic<bool> failure_reported{false};  // SO_ERROR returned the connect failure once  // nonblocking connect shrank SO_SNDBUF
  std::mutex options_mutex;
  std::map<std::pair<int, int>, std::vector<char>> emulated_options;  // (level, name) -> value
};

class FdTable {
 public:
  static constexpr int kCapacity = 1 << 16;  // fds at or above are never managed
  static constexpr std::uint8_t kManaged = 1;
  static constexpr std::uint8_t kInternal = 2;

  static std::uint8_t flags(int fd) {
    return static_cast<unsigned>(fd) < kCapacity ? flags_[fd].load(std::memory_order_relaxed) : 0;
  }
  static bool managed(int fd) { return flags(fd) & kManaged; }
  static bool internal(int fd) { return flags(fd) & kInternal; }

  static std::shared_ptr<SocketState> get(int fd);
  static void set(int fd, std::shared_ptr<SocketState> state, std::uint8_t extra_flags = 0);  // marks kManaged
  static void add_flags(int fd, std::uint8_t bits);
  static void remove_flags(int fd, std::uint8_t bits);
  static void clear(int fd);                                    // forgets fd (managed or internal)
  static void mark_internal(int fd);
  // dup/dup2/dup3/F_DUPFD: `to` now refers to what `from` refers to.
  static void copy(int from, int to);
  static std::vector<int> internal_fds();
  static std::vector<int> managed_fds();
  // After fork, in the child: drop internal marks (the caller closes those fds).
  static void forget_internal();

 private:
  static std::atomic<std::uint8_t> flags_[kCapacity];
};

// The table's lock (held across fork() so the child never inherits it locked).
std::mutex& fd_table_mutex();

}  // namespace tmc::shim
