// The bridging core and fd model, in-process: socket operations from socket_ops.h on real
// kernel fds, with channels from an in-process hub (no engine, no LD_PRELOAD).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>
#include <thread>

#include "core/socket_ops.h"
#include "shim/loopback_channel.h"

namespace tmc::shim {
namespace {

using namespace std::chrono_literals;

const char* kPolicy = R"(
rules:
  - {name: stream-server, role: tcp-server, local: 127.0.0.1, manifest: {reliability: all, ordering: fifo}}
  - {name: stream-client, role: tcp-client, destination: 127.0.0.1, manifest: {reliability: all, ordering: fifo}}
  - {name: lossy-server, role: tcp-server, local: 127.0.0.3, manifest: {reliability: none}, framing: length-prefixed-u16}
  - {name: lossy-client, role: tcp-client, destination: 127.0.0.3, manifest: {reliability: none}, framing: length-prefixed-u16}
  - {name: calls-server, role: tcp-server, local: 127.0.0.4, manifest: {reliability: all}, framing: send-call}
  - {name: calls-client, role: tcp-client, destination: 127.0.0.4, manifest: {reliability: all}, framing: send-call}
)";

std::shared_ptr<testing::LoopbackHub> hub() {
  static auto instance = std::make_shared<testing::LoopbackHub>();
  return instance;
}

class BridgeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static Policy policy = parse_policy(kPolicy, "bridge_test.yaml");
    ShimConfig configuration;
    configuration.policy = &policy;
    configuration.program = "bridge_test";
    configuration.make_factory = [] { return std::make_shared<testing::LoopbackFactory>(hub()); };
    configuration.bridge_options.connect_timeout = 800ms;
    configuration.bridge_options.first_retry = 50ms;
    configuration.bridge_options.direct_bulk = true;  // LargeStreamWritesGoDirectInChunksAndKeepOrder
    configure(configuration);
  }
  void SetUp() override {
    hub()->loss = 0;
    hub()->refuse_unbound = true;
  }

  // A listening socket on ip:ephemeral, through the shim's listen().
  int listen_on(const char* ip, std::uint16_t* port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip, &address.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    *port = ntohs(address.sin_port);
    EXPECT_EQ(ops::listen(fd, 16), 0) << std::strerror(errno);
    return fd;
  }
  int connect_to(const char* ip, std::uint16_t port, int type_flags = 0, int* result = nullptr) {
    int fd = ::socket(AF_INET, SOCK_STREAM | type_flags, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &address.sin_addr);
    int status = ops::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (result) {
      *result = status < 0 ? errno : 0;
    } else {
      EXPECT_EQ(status, 0) << std::strerror(errno);
    }
    return fd;
  }
  static std::string read_all(int fd) {
    std::string out;
    char buffer[4096];
    ssize_t count;
    while ((count = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(count));
    return out;
  }
  static void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t count = ::write(fd, data.data() + done, data.size() - done);
      ASSERT_GT(count, 0);
      done += static_cast<std::size_t>(count);
    }
  }
  static sockaddr_in name_of(int fd, bool peer) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    int result = peer ? ops::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                      : ops::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    EXPECT_EQ(result, 0) << std::strerror(errno);
    EXPECT_EQ(length, sizeof address);
    return address;
  }
  static int count_fds() {
    int count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    while (::readdir(directory)) ++count;
    ::closedir(directory);
    return count;
  }
};

TEST_F(BridgeTest, EchoWithInetAddressesAndSocketOptions) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  sockaddr_in peer{};
  socklen_t peer_length = sizeof peer;
  int server = ops::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC);
  ASSERT_GE(server, 0) << std::strerror(errno);

  // Addresses are INET, never AF_UNIX: the client's local = the server's peer.
  auto client_local = name_of(client, false);
  auto client_peer = name_of(client, true);
  EXPECT_EQ(client_local.sin_family, AF_INET);
  EXPECT_EQ(ntohs(client_peer.sin_port), port);
  EXPECT_EQ(client_peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_EQ(peer.sin_family, AF_INET);
  EXPECT_EQ(peer.sin_port, client_local.sin_port);
  EXPECT_EQ(name_of(server, true).sin_port, client_local.sin_port);
  EXPECT_EQ(ntohs(name_of(server, false).sin_port), port);
  EXPECT_EQ(ntohs(name_of(listener, false).sin_port), port);
  EXPECT_EQ(fcntl(server, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

  int value = 0;
  socklen_t length = sizeof value;
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_DOMAIN, &value, &length), 0);
  EXPECT_EQ(value, AF_INET);
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_TYPE, &value, &length), 0);
  EXPECT_EQ(value, SOCK_STREAM);
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_PROTOCOL, &value, &length), 0);
  EXPECT_EQ(value, IPPROTO_TCP);
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_ERROR, &value, &length), 0);
  EXPECT_EQ(value, 0);
  int one = 1;
  ASSERT_EQ(ops::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
  ASSERT_EQ(ops::getsockopt(client, IPPROTO_TCP, TCP_NODELAY, &value, &length), 0);
  EXPECT_EQ(value, 1);
  ASSERT_EQ(ops::getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &value, &length), 0);
  EXPECT_EQ(value, 1);

  write_all(client, "ping");
  char buffer[16] = {};
  ASSERT_EQ(::read(server, buffer, sizeof buffer), 4);
  EXPECT_EQ(std::string(buffer, 4), "ping");
  write_all(server, "pong!");
  ASSERT_EQ(::read(client, buffer, sizeof buffer), 5);
  EXPECT_EQ(std::string(buffer, 5), "pong!");

  // recvfrom on a connected stream reports no source address, as TCP does.
  write_all(server, "x");
  sockaddr_storage source{};
  socklen_t source_length = sizeof source;
  ASSERT_EQ(ops::recvfrom(client, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&source), &source_length), 1);
  EXPECT_EQ(source_length, 0u);

  EXPECT_EQ(ops::close(client), 0);
  EXPECT_EQ(read_all(server), "");  // EOF after the peer's CLOSE
  EXPECT_EQ(ops::close(server), 0);
  EXPECT_EQ(ops::close(listener), 0);
}

TEST_F(BridgeTest, BulkTransferArrivesIntactAndInOrder) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  std::string data(3 << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 7);
  std::thread writer([&] {
    write_all(client, data);
    ::shutdown(client, SHUT_WR);
  });
  std::string received = read_all(server);
  writer.join();
  EXPECT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data);
  // Half-close: the server can still answer.
  write_all(server, "done");
  ops::close(server);
  EXPECT_EQ(read_all(client), "done");
  ops::close(client);
  ops::close(listener);
}

TEST_F(BridgeTest, NonblockingConnectBecomesWritableAfterHandshake) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int status = 0;
  int client = connect_to("127.0.0.1", port, SOCK_NONBLOCK, &status);
  EXPECT_EQ(status, EINPROGRESS);
  // A second connect() while connecting: EALREADY (or EISCONN if the handshake already ended).
  sockaddr_in address = name_of(client, false);
  (void)address;
  pollfd poll_fd{client, POLLOUT, 0};
  ASSERT_EQ(::poll(&poll_fd, 1, 3000), 1);
  EXPECT_TRUE(poll_fd.revents & POLLOUT);
  int error = -1;
  socklen_t length = sizeof error;
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_ERROR, &error, &length), 0);
  EXPECT_EQ(error, 0);
  EXPECT_TRUE(fcntl(client, F_GETFL) & O_NONBLOCK);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  write_all(client, "hello");
  char buffer[8];
  ASSERT_EQ(::read(server, buffer, sizeof buffer), 5);
  // Nonblocking read with nothing to read: EAGAIN, as for TCP.
  EXPECT_EQ(::read(client, buffer, sizeof buffer), -1);
  EXPECT_EQ(errno, EAGAIN);
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, ConnectToSilentPeerTimesOut) {
  // Nothing answers on this channel port (not even ICMP): the OPENs go unanswered.
  hub()->refuse_unbound = false;
  int status = 0;
  auto started = std::chrono::steady_clock::now();
  int client = connect_to("127.0.0.1", 9, 0, &status);
  EXPECT_EQ(status, ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 700ms);
  ops::close(client);
}

TEST_F(BridgeTest, NonblockingConnectFailureReportsSoError) {
  hub()->refuse_unbound = false;
  int status = 0;
  int client = connect_to("127.0.0.1", 9, SOCK_NONBLOCK, &status);
  EXPECT_EQ(status, EINPROGRESS);
  pollfd poll_fd{client, POLLOUT, 0};
  ASSERT_EQ(::poll(&poll_fd, 1, 3000), 1);
  int error = 0;
  socklen_t length = sizeof error;
  ASSERT_EQ(ops::getsockopt(client, SOL_SOCKET, SO_ERROR, &error, &length), 0);
  EXPECT_EQ(error, ETIMEDOUT);
  ops::close(client);
}

// A port this process holds for a connection (the client's channel port) has no listener: an
// OPEN there is refused at once, as TCP answers a SYN to such a port with RST.
TEST_F(BridgeTest, ConnectToAPortWithoutListenerIsRefused) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  const std::uint16_t client_port = ntohs(name_of(client, false).sin_port);
  int status = 0;
  auto started = std::chrono::steady_clock::now();
  int refused = connect_to("127.0.0.1", client_port, 0, &status);
  EXPECT_EQ(status, ECONNREFUSED);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 700ms);  // not the connect timeout
  // The connection whose port was probed is untouched.
  write_all(client, "still here");
  char buffer[16];
  EXPECT_EQ(::read(server, buffer, sizeof buffer), 10);
  ops::close(refused);
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, ConnectToUnboundPortIsRefusedAtOnce) {
  // Nobody holds the port: the engine reports ICMP port unreachable as a REFUSE.
  int status = 0;
  auto started = std::chrono::steady_clock::now();
  int client = connect_to("127.0.0.1", 9, 0, &status);
  EXPECT_EQ(status, ECONNREFUSED);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 700ms);
  ops::close(client);
}

TEST_F(BridgeTest, UnmatchedSocketsPassThroughUntouched) {
  int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.2", &address.sin_addr);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(ops::listen(server, 4), 0);
  EXPECT_FALSE(FdTable::managed(server));
  socklen_t length = sizeof address;
  ::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length);
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  errno = 1234;
  ASSERT_EQ(ops::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(errno, 1234);  // preserved
  EXPECT_FALSE(FdTable::managed(client));
  int domain = 0;
  length = sizeof domain;
  ::getsockopt(client, SOL_SOCKET, SO_DOMAIN, &domain, &length);
  EXPECT_EQ(domain, AF_INET);  // the kernel's own TCP socket
  ops::close(client);
  ops::close(server);
}

TEST_F(BridgeTest, LossyLengthPrefixedChannelLosesWholeMessagesOnly) {
  hub()->loss = 0.3;
  std::uint16_t port;
  int listener = listen_on("127.0.0.3", &port);
  int client = connect_to("127.0.0.3", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  constexpr int kMessages = 300;
  std::string stream;
  for (int i = 0; i < kMessages; ++i) {
    std::size_t length = 1 + static_cast<std::size_t>(i * 37 % 900);
    stream.push_back(static_cast<char>(length >> 8));
    stream.push_back(static_cast<char>(length & 0xff));
    stream.append(length, static_cast<char>('A' + i % 26));
  }
  std::thread writer([&] {
    write_all(client, stream);
    ::shutdown(client, SHUT_WR);
  });
  std::string received = read_all(server);
  writer.join();
  // Parse: every message is whole (its length matches its content) and in send order.
  std::size_t offset = 0;
  int messages = 0;
  int last_index = -1;
  while (offset + 2 <= received.size()) {
    std::size_t length = (static_cast<unsigned char>(received[offset]) << 8) | static_cast<unsigned char>(received[offset + 1]);
    ASSERT_LE(offset + 2 + length, received.size()) << "truncated message";
    std::string body = received.substr(offset + 2, length);
    ASSERT_EQ(body, std::string(length, body[0])) << "mixed bytes in message " << messages;
    // The index is recoverable from length: find the first i > last_index with that length and letter.
    int index = last_index + 1;
    while (index < kMessages && !(1 + static_cast<std::size_t>(index * 37 % 900) == length && 'A' + index % 26 == body[0])) ++index;
    ASSERT_LT(index, kMessages) << "message out of order or invented";
    last_index = index;
    offset += 2 + length;
    ++messages;
  }
  EXPECT_EQ(offset, received.size());
  EXPECT_LT(messages, kMessages);  // some were lost ...
  EXPECT_GT(messages, kMessages / 3);  // ... whole
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, SendCallFramingMakesEachWriteOneMessage) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.4", &port);
  int client = connect_to("127.0.0.4", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  auto before = hub()->recorded().size();
  for (std::size_t size : {10u, 20u, 30u, 4000u}) {
    std::string data(size, 'm');
    ASSERT_EQ(ops::framed_write(client, size, [&] { return ::write(client, data.data(), data.size()); }),
              static_cast<ssize_t>(size));
  }
  std::string received;
  char buffer[8192];
  while (received.size() < 4060) {
    ssize_t count = ::read(server, buffer, sizeof buffer);
    ASSERT_GT(count, 0);
    received.append(buffer, static_cast<std::size_t>(count));
  }
  hub()->drain();
  auto sizes = hub()->recorded();
  std::vector<std::size_t> sent(sizes.begin() + static_cast<std::ptrdiff_t>(before), sizes.end());
  EXPECT_EQ(sent, (std::vector<std::size_t>{10, 20, 30, 4000}));
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

// Writes on the application's thread (ops::direct_send) and writes that go through the
// socketpair (the kernel write the interposers fall back to) interleave; the peer must read
// exactly the bytes in the order they were written.
TEST_F(BridgeTest, DirectSendsKeepOrderWithBytesStillInTheSocketpair) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  std::string expected;
  int direct = 0, kernel = 0;
  std::thread writer([&] {
    for (int i = 0; i < 3000; ++i) {
      std::string chunk = "<" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), '.') + ">";
      expected += chunk;
      iovec data{chunk.data(), chunk.size()};
      if (i % 3 != 0 && ops::direct_send(client, &data, 1, MSG_NOSIGNAL)) {
        ++direct;
      } else {
        write_all(client, chunk);  // kernel write into the socketpair; the bridge thread sends it
        ++kernel;
      }
    }
    ::shutdown(client, SHUT_WR);
  });
  std::string received = read_all(server);
  writer.join();
  EXPECT_GT(direct, 0);
  EXPECT_GE(kernel, 1000);
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

// `stream` framing with Options::direct_bulk (this fixture sets it): a direct write of any size
// within the unacknowledged window goes to the channel straight from the application's
// buffers, cut at Framer::kChunk per buffer; a write
// larger than the window takes the socketpair. Large direct and socketpair writes interleave
// in order.
TEST_F(BridgeTest, LargeStreamWritesGoDirectInChunksAndKeepOrder) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  hub()->drain();
  auto before = hub()->recorded().size();
  std::string first(100 * 1024, 'a'), second(50 * 1024, 'b');
  for (std::size_t i = 0; i < first.size(); i += 977) first[i] = static_cast<char>('0' + i % 10);
  iovec parts[2] = {{first.data(), first.size()}, {second.data(), second.size()}};
  ASSERT_TRUE(ops::direct_send(client, parts, 2, 0));
  std::string received;
  std::vector<char> buffer(256 * 1024);
  while (received.size() < first.size() + second.size()) {
    ssize_t count = ::read(server, buffer.data(), buffer.size());
    ASSERT_GT(count, 0);
    received.append(buffer.data(), static_cast<std::size_t>(count));
  }
  EXPECT_TRUE(received == first + second);
  hub()->drain();
  auto sizes = hub()->recorded();
  EXPECT_EQ(std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(before), sizes.end()),
            (std::vector<std::size_t>{61440, 40960, 51200}));
  std::string huge(2u << 20, 'h');  // above max_outstanding_bytes (1 MiB)
  iovec too_large{huge.data(), huge.size()};
  EXPECT_FALSE(ops::direct_send(client, &too_large, 1, 0));

  std::string expected;
  int direct = 0, kernel = 0;
  std::thread writer([&] {
    std::mt19937 random(7);
    for (int i = 0; i < 200; ++i) {
      std::string chunk(1 + random() % (200 * 1024), static_cast<char>('A' + i % 26));
      chunk.front() = '<';
      chunk.back() = '>';
      expected += chunk;
      iovec data{chunk.data(), chunk.size()};
      if (i % 3 != 0 && ops::direct_send(client, &data, 1, MSG_NOSIGNAL)) {
        ++direct;
      } else {
        write_all(client, chunk);
        ++kernel;
      }
    }
    ::shutdown(client, SHUT_WR);
  });
  received = read_all(server);
  writer.join();
  EXPECT_GT(direct, 20);
  EXPECT_GE(kernel, 60);
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

// Direct sends are framed like bytes the bridge reads: a length-prefixed message split over
// several calls is one channel message, and a send-call write is one message.
TEST_F(BridgeTest, DirectSendsAreFramedLikeSocketpairBytes) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.3", &port);
  int client = connect_to("127.0.0.3", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  hub()->drain();
  auto before = hub()->recorded().size();
  std::string first = std::string("\x00\x05", 2) + "hello";
  std::string second = std::string("\x00\x03", 2) + "abc";
  std::string both = first + second;
  // One call carries the first message and the second's header; the rest follows in two.
  iovec parts[2] = {{both.data(), first.size() + 1}, {both.data() + first.size() + 1, 1}};
  ASSERT_TRUE(ops::direct_send(client, parts, 2, 0));
  iovec rest{both.data() + first.size() + 2, 3};
  ASSERT_TRUE(ops::direct_send(client, &rest, 1, MSG_DONTWAIT));
  std::string received;
  char buffer[64];
  while (received.size() < both.size()) {
    ssize_t count = ::read(server, buffer, sizeof buffer);
    ASSERT_GT(count, 0);
    received.append(buffer, static_cast<std::size_t>(count));
  }
  EXPECT_EQ(received, both);
  hub()->drain();
  auto sizes = hub()->recorded();
  EXPECT_EQ(std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(before), sizes.end()),
            (std::vector<std::size_t>{first.size(), second.size()}));
  ops::close(client);
  ops::close(server);

  int calls_listener = listen_on("127.0.0.4", &port);
  client = connect_to("127.0.0.4", port);
  server = ops::accept4(calls_listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  hub()->drain();
  before = hub()->recorded().size();
  std::string data(4000, 'm');
  for (std::size_t size : {7u, 1u, 4000u}) {
    iovec call{data.data(), size};
    ASSERT_TRUE(ops::direct_send(client, &call, 1, 0));
  }
  received.clear();
  char large[8192];
  while (received.size() < 4008) {
    ssize_t count = ::read(server, large, sizeof large);
    ASSERT_GT(count, 0);
    received.append(large, static_cast<std::size_t>(count));
  }
  hub()->drain();
  sizes = hub()->recorded();
  EXPECT_EQ(std::vector<std::size_t>(sizes.begin() + static_cast<std::ptrdiff_t>(before), sizes.end()),
            (std::vector<std::size_t>{7, 1, 4000}));
  ops::close(client);
  ops::close(server);
  ops::close(listener);
  ops::close(calls_listener);
}

// When the direct path does not apply, it says so without touching errno, and the kernel
// write keeps TCP's semantics (EPIPE after shutdown, flags it does not handle).
TEST_F(BridgeTest, DirectSendDeclinesWhereTheKernelMustAnswer) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  char byte = 'x';
  iovec one{&byte, 1};
  EXPECT_FALSE(ops::direct_send(client, &one, 1, MSG_OOB));
  EXPECT_FALSE(ops::direct_send(client, &one, 0, 0));
  iovec empty{&byte, 0};
  EXPECT_FALSE(ops::direct_send(client, &empty, 1, 0));
  int unmanaged[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, unmanaged), 0);
  EXPECT_FALSE(ops::direct_send(unmanaged[0], &one, 1, 0));
  ::close(unmanaged[0]);
  ::close(unmanaged[1]);
  ASSERT_TRUE(ops::direct_send(client, &one, 1, 0));
  ASSERT_EQ(::shutdown(client, SHUT_WR), 0);
  errno = EDOM;
  EXPECT_FALSE(ops::direct_send(client, &one, 1, MSG_NOSIGNAL));
  EXPECT_EQ(errno, EDOM);
  EXPECT_EQ(::send(client, &byte, 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(read_all(server), "x");  // the direct byte, then EOF
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, ControlFromAnotherAddressCannotCloseAConnection) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  ASSERT_GE(server, 0);
  // A stranger (e.g. a lingering channel of an earlier connection that used the same port)
  // sends CLOSE and RESET to both ends.
  testing::LoopbackFactory factory(hub());
  auto stranger = factory.open({}, "127.0.0.1:0");
  auto client_port = ntohs(name_of(client, false).sin_port);
  stranger->send_control(4 /* TMC_CONTROL_CLOSE */, 0, "127.0.0.1:" + std::to_string(client_port));
  stranger->send_control(5 /* TMC_CONTROL_RESET */, 0, "127.0.0.1:" + std::to_string(client_port));
  hub()->drain();
  std::this_thread::sleep_for(100ms);
  write_all(server, "still here");
  char buffer[16];
  ASSERT_EQ(::read(client, buffer, sizeof buffer), 10);
  write_all(client, "and here");
  ASSERT_EQ(::read(server, buffer, sizeof buffer), 8);
  ops::close(client);
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, DupSharesTheConnectionAndLastCloseEndsIt) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  int client = connect_to("127.0.0.1", port);
  int server = ops::accept4(listener, nullptr, nullptr, 0);
  int copy = ops::dup(client);
  int high = ops::fcntl(client, F_DUPFD_CLOEXEC, 500, false);
  ASSERT_GE(high, 500);
  EXPECT_EQ(ntohs(name_of(copy, true).sin_port), port);
  EXPECT_EQ(ntohs(name_of(high, true).sin_port), port);
  ASSERT_EQ(ops::close(client), 0);
  ASSERT_EQ(ops::close(high), 0);
  write_all(copy, "via dup");
  char buffer[16];
  ASSERT_EQ(::read(server, buffer, sizeof buffer), 7);
  int target = ::open("/dev/null", O_RDONLY);
  ASSERT_EQ(ops::dup3(copy, target, O_CLOEXEC, false), target);
  EXPECT_EQ(ntohs(name_of(target, true).sin_port), port);
  ops::close(copy);
  ops::close(target);
  EXPECT_EQ(read_all(server), "");
  ops::close(server);
  ops::close(listener);
}

TEST_F(BridgeTest, InternalFdsAreProtectedFromTheApplication) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  auto internal = FdTable::internal_fds();
  ASSERT_FALSE(internal.empty());
  int fd = internal.front();
  EXPECT_GE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 1);
  EXPECT_EQ(ops::close(fd), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_GE(fcntl(fd, F_GETFD), 0);  // still open
  int other = ::open("/dev/null", O_RDONLY);
  EXPECT_EQ(ops::dup3(other, fd, 0, true), -1);
  ::close(other);
  ops::close(listener);
}

TEST_F(BridgeTest, ManyConnectionsLeakNoFds) {
  std::uint16_t port;
  int listener = listen_on("127.0.0.1", &port);
  // Warm up (bridge thread, hub) before counting.
  int warm = connect_to("127.0.0.1", port);
  int warm_server = ops::accept4(listener, nullptr, nullptr, 0);
  ops::close(warm);
  read_all(warm_server);
  ops::close(warm_server);
  std::this_thread::sleep_for(200ms);
  int before = count_fds();
  constexpr int kConnections = 200;
  std::vector<int> clients, servers;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(connect_to("127.0.0.1", port));
    servers.push_back(ops::accept4(listener, nullptr, nullptr, 0));
    ASSERT_GE(servers.back(), 0);
  }
  for (int i = 0; i < kConnections; ++i) {
    write_all(clients[i], "x");
    char c;
    ASSERT_EQ(::read(servers[i], &c, 1), 1);
  }
  for (int fd : clients) ops::close(fd);
  for (int fd : servers) {
    read_all(fd);
    ops::close(fd);
  }
  // Connections are torn down once both CLOSEs are through.
  int after = 0;
  for (int i = 0; i < 100; ++i) {
    after = count_fds();
    if (after <= before) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LE(after, before);
  ops::close(listener);
}

}  // namespace
}  // namespace tmc::shim
