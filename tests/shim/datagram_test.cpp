// The datagram bridging core (udp-sender / udp-receiver), in-process: the socket operations of
// datagram_ops.h on real kernel fds, channels from the in-process hub (no engine, no LD_PRELOAD).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "core/datagram_ops.h"
#include "core/socket_ops.h"
#include "shim/loopback_channel.h"

namespace tmc::shim {
namespace {

using namespace std::chrono_literals;

const char* kPolicy = R"(
rules:
  - {name: echo-receiver, role: udp-receiver, local: 127.0.0.1, port: 6001-6099, manifest: {channel: d, reliability: all}}
  - {name: fanout, role: udp-sender, destination: 10.99.0.1, port: 7000, manifest: {channel: d, reliability: all},
     group: {members: ["127.0.0.1:6101", "127.0.0.1:6102", "127.0.0.1:6103"]}}
  - {name: multicast, role: udp-sender, destination: 10.99.0.2, port: 7000, manifest: {channel: d, reliability: none},
     group: {members: ["127.0.0.1:6201", "127.0.0.1:6202", "127.0.0.1:6203"], multicast: "239.9.9.9:6200"}}
  - {name: group-receiver, role: udp-receiver, local: 127.0.0.1, port: 6100-6299, manifest: {channel: d, reliability: all}}
  - {name: joined-receiver, role: udp-receiver, local: 239.9.9.8, port: 6300, manifest: {channel: d, reliability: none}}
  - name: mixed-sender
    role: udp-sender
    destination: 127.0.0.1
    port: 6001-6099
    manifest: {channel: d, reliability: none}
    messages:
      - {prefix: "R", manifest: {reliability: all}}
)";

std::shared_ptr<testing::LoopbackHub> hub() {
  static auto instance = std::make_shared<testing::LoopbackHub>();
  return instance;
}

sockaddr_in inet(const char* ip, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &address.sin_addr);
  return address;
}

std::string text_of(const sockaddr_in& address) {
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &address.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(address.sin_port));
}

class DatagramTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static Policy policy = parse_policy(kPolicy, "datagram_test.yaml");
    ShimConfig configuration;
    configuration.policy = &policy;
    configuration.program = "datagram_test";
    configuration.make_factory = [] { return std::make_shared<testing::LoopbackFactory>(hub()); };
    configure(configuration);
  }
  void SetUp() override { hub()->loss = 0; }
  void TearDown() override {
    for (int fd : opened_) ops::close(fd);
    // Closed sockets leave the bridge once the engine end reads EOF.
    for (int i = 0; i < 200 && datagram_bridge()->socket_count() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(datagram_bridge()->socket_count(), 0u);
  }

  int udp_socket(int flags = 0) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | flags, 0);
    opened_.push_back(fd);
    return fd;
  }
  int receiver(const char* ip, std::uint16_t port) {
    int fd = udp_socket();
    auto address = inet(ip, port);
    auto result = datagram::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    EXPECT_TRUE(result.has_value());
    EXPECT_EQ(result.value_or(-1), 0) << std::strerror(errno);
    return fd;
  }
  static ssize_t send_to(int fd, const std::string& data, const sockaddr_in& to) {
    return ops::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }
  // Waits (bounded) for one datagram; returns its text and source.
  static std::string receive(int fd, sockaddr_in* from = nullptr, int flags = 0) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 3000) != 1) return "<timeout>";
    char buffer[2048];
    sockaddr_in source{};
    socklen_t length = sizeof source;
    ssize_t count = ops::recvfrom(fd, buffer, sizeof buffer, flags, reinterpret_cast<sockaddr*>(&source), &length);
    if (count < 0) return std::string("<error ") + std::strerror(errno) + ">";
    EXPECT_EQ(length, sizeof source);
    if (from) *from = source;
    return std::string(buffer, static_cast<std::size_t>(count));
  }
  static sockaddr_in name_of(int fd, bool peer = false) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    int result = peer ? ops::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length)
                      : ops::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    EXPECT_EQ(result, 0) << std::strerror(errno);
    return address;
  }
  static int int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t length = sizeof value;
    EXPECT_EQ(ops::getsockopt(fd, level, name, &value, &length), 0);
    return value;
  }
  static int count_fds() {
    int count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    while (::readdir(directory)) ++count;
    ::closedir(directory);
    return count;
  }
  std::vector<int> opened_;
};

TEST_F(DatagramTest, RequestAndReplyCarryTrueAddressesAndUdpIdentity) {
  int server = receiver("127.0.0.1", 6001);
  EXPECT_TRUE(is_bridged_datagram(server));
  EXPECT_EQ(text_of(name_of(server)), "127.0.0.1:6001");
  EXPECT_EQ(int_option(server, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
  EXPECT_EQ(int_option(server, SOL_SOCKET, SO_DOMAIN), AF_INET);
  EXPECT_EQ(int_option(server, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);
  EXPECT_EQ(ops::listen(server, 4), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  auto again = inet("127.0.0.1", 6001);
  EXPECT_EQ(datagram::bind(server, reinterpret_cast<sockaddr*>(&again), sizeof again).value_or(0), -1);
  EXPECT_EQ(errno, EINVAL) << "a bridged socket is bound";

  int client = udp_socket(SOCK_NONBLOCK | SOCK_CLOEXEC);
  int ttl = 7;
  ASSERT_EQ(ops::setsockopt(client, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl), 0);
  ASSERT_EQ(send_to(client, "ping", inet("127.0.0.1", 6001)), 4);
  ASSERT_TRUE(is_bridged_datagram(client)) << "sendto to a udp-sender destination bridges the socket";
  EXPECT_TRUE(TMC_REAL(fcntl)(client, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(TMC_REAL(fcntl)(client, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(int_option(client, IPPROTO_IP, IP_TTL), 7) << "options set before bridging are carried";
  auto client_name = name_of(client);
  EXPECT_NE(ntohs(client_name.sin_port), 0);

  sockaddr_in from{};
  EXPECT_EQ(receive(server, &from), "ping");
  EXPECT_EQ(ntohs(from.sin_port), ntohs(client_name.sin_port)) << "the source is the sender's own address";
  EXPECT_EQ(from.sin_family, AF_INET);
  ASSERT_EQ(ops::sendto(server, "pong!", 5, 0, reinterpret_cast<sockaddr*>(&from), sizeof from), 5);
  EXPECT_EQ(receive(client, &from), "pong!");
  EXPECT_EQ(text_of(from), "127.0.0.1:6001") << "the reply comes from the receiver's real address";

  // Nonblocking semantics are the kernel's: nothing queued -> EAGAIN.
  char buffer[16];
  EXPECT_EQ(datagram::receive_buffer(client, buffer, sizeof buffer, 0, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(DatagramTest, DatagramBoundariesPeekTruncationAndFionread) {
  int server = receiver("127.0.0.1", 6002);
  int client = udp_socket();
  ASSERT_EQ(send_to(client, "0123456789", inet("127.0.0.1", 6002)), 10);
  ASSERT_EQ(send_to(client, "", inet("127.0.0.1", 6002)), 0) << "an empty datagram is a datagram";
  pollfd ready{server, POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 3000), 1);
  int pending = -1;
  ASSERT_EQ(datagram::ioctl(server, FIONREAD, &pending).value_or(-1), 0);
  EXPECT_EQ(pending, 10);
  EXPECT_EQ(receive(server, nullptr, MSG_PEEK), "0123456789");
  char small[4];
  iovec part{small, sizeof small};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  EXPECT_EQ(datagram::receive_message(server, &message, MSG_TRUNC), 10) << "MSG_TRUNC returns the real length";
  EXPECT_TRUE(message.msg_flags & MSG_TRUNC);
  EXPECT_EQ(std::string(small, 4), "0123");
  EXPECT_EQ(receive(server), "");
}

TEST_F(DatagramTest, ConnectedSenderSendsWithoutAddressAndReceivesOnlyFromItsPeer) {
  int server = receiver("127.0.0.1", 6003);
  int other = receiver("127.0.0.1", 6004);
  int client = udp_socket();
  auto destination = inet("127.0.0.1", 6003);
  ASSERT_EQ(ops::connect(client, reinterpret_cast<sockaddr*>(&destination), sizeof destination), 0);
  ASSERT_TRUE(is_bridged_datagram(client));
  EXPECT_EQ(text_of(name_of(client, true)), "127.0.0.1:6003");
  ASSERT_EQ(datagram::send_buffer(client, "hello", 5, 0, nullptr, 0), 5);
  sockaddr_in from{};
  EXPECT_EQ(receive(server, &from), "hello");
  // A datagram from a socket that is not the peer is not delivered (as for a connected UDP socket).
  ASSERT_EQ(ops::sendto(other, "intruder", 8, 0, reinterpret_cast<sockaddr*>(&from), sizeof from), 8);
  ASSERT_EQ(ops::sendto(server, "reply", 5, 0, reinterpret_cast<sockaddr*>(&from), sizeof from), 5);
  EXPECT_EQ(receive(client), "reply");
  pollfd ready{client, POLLIN, 0};
  EXPECT_EQ(::poll(&ready, 1, 200), 0);

  // An unconnected bridged socket without a destination: EDESTADDRREQ, as UDP.
  int unconnected = udp_socket();
  ASSERT_EQ(send_to(unconnected, "x", inet("127.0.0.1", 6003)), 1);
  EXPECT_EQ(receive(server), "x");
  EXPECT_EQ(datagram::send_buffer(unconnected, "y", 1, 0, nullptr, 0), -1);
  EXPECT_EQ(errno, EDESTADDRREQ);
  EXPECT_EQ(datagram::shutdown(unconnected, SHUT_WR).value_or(0), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(datagram::shutdown(client, SHUT_WR).value_or(-1), 0) << "connected: accepted";
  ASSERT_EQ(ops::sendto(server, "still", 5, 0, reinterpret_cast<sockaddr*>(&from), sizeof from), 5);
  EXPECT_EQ(receive(client), "still") << "a write-side shutdown does not close the socket";
  sockaddr_in no_peer{};
  socklen_t length = sizeof no_peer;
  EXPECT_EQ(ops::getpeername(unconnected, reinterpret_cast<sockaddr*>(&no_peer), &length), -1);
  EXPECT_EQ(errno, ENOTCONN);
}

TEST_F(DatagramTest, GroupFanOutReachesEveryMemberAndRepliesComeFromMembers) {
  int members[3] = {receiver("127.0.0.1", 6101), receiver("127.0.0.1", 6102), receiver("127.0.0.1", 6103)};
  int client = udp_socket();
  auto before = hub()->recorded().size();
  ASSERT_EQ(send_to(client, "get k", inet("10.99.0.1", 7000)), 5);
  std::set<std::string> reply_sources;
  for (int member : members) {
    sockaddr_in from{};
    ASSERT_EQ(receive(member, &from), "get k");
    ASSERT_EQ(ops::sendto(member, "value", 5, 0, reinterpret_cast<sockaddr*>(&from), sizeof from), 5);
  }
  for (int i = 0; i < 3; ++i) {
    sockaddr_in from{};
    EXPECT_EQ(receive(client, &from), "value");
    reply_sources.insert(text_of(from));
  }
  EXPECT_EQ(reply_sources, (std::set<std::string>{"127.0.0.1:6101", "127.0.0.1:6102", "127.0.0.1:6103"}));
  EXPECT_EQ(hub()->recorded().size() - before, 3u + 3u) << "unicast fan-out: one copy per member, plus the replies";
}

TEST_F(DatagramTest, MulticastGroupIsOneCopyToTheReceiversThatJoined) {
  int members[3] = {receiver("127.0.0.1", 6201), receiver("127.0.0.1", 6202), receiver("127.0.0.1", 6203)};
  for (int member : members) {
    auto state = FdTable::get(member);
    ASSERT_TRUE(state && state->datagram);
    EXPECT_EQ(state->datagram->joined_groups(), std::vector<std::string>{"239.9.9.9:6200"})
        << "a receiver on a member's address joins the mapping's multicast group";
  }
  int client = udp_socket();
  auto before = hub()->recorded().size();
  ASSERT_EQ(send_to(client, "put k v", inet("10.99.0.2", 7000)), 7);
  for (int member : members) EXPECT_EQ(receive(member), "put k v");
  EXPECT_EQ(hub()->recorded().size() - before, 1u) << "one multicast copy";
}

TEST_F(DatagramTest, IpAddMembershipOnABoundSocketJoinsTheGroup) {
  // Bound to the wildcard by the kernel (no receiver rule for it), then joining 239.9.9.8
  // matches joined-receiver: the socket is bridged at IP_ADD_MEMBERSHIP time.
  int fd = udp_socket();
  auto any = inet("0.0.0.0", 0);
  ASSERT_EQ(TMC_REAL(bind)(fd, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  auto port = ntohs(name_of(fd).sin_port);
  ip_mreq request{};
  ::inet_pton(AF_INET, "239.9.9.8", &request.imr_multiaddr);
  // An unmatched join (port differs from the rule's) goes to the kernel (whose answer depends on
  // this host's multicast routes).
  ops::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request);
  EXPECT_FALSE(is_bridged_datagram(fd)) << "port " << port << " is not the rule's";

  int matched = udp_socket();
  auto on_rule_port = inet("0.0.0.0", 6300);
  if (TMC_REAL(bind)(matched, reinterpret_cast<sockaddr*>(&on_rule_port), sizeof on_rule_port) != 0) {
    GTEST_SKIP() << "UDP port 6300 is in use here";
  }
  ASSERT_EQ(ops::setsockopt(matched, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request), 0) << std::strerror(errno);
  ASSERT_TRUE(is_bridged_datagram(matched));
  EXPECT_EQ(FdTable::get(matched)->datagram->joined_groups(), std::vector<std::string>{"239.9.9.8:6300"});
  EXPECT_EQ(text_of(name_of(matched)), "0.0.0.0:6300");
}

TEST_F(DatagramTest, PerMessageRulesChooseReliabilityPerDatagram) {
  int server = receiver("127.0.0.1", 6005);
  int client = udp_socket();
  hub()->loss = 1.0;  // every unreliable message is lost
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(send_to(client, "U" + std::to_string(i), inet("127.0.0.1", 6005)), 2);
    ASSERT_EQ(send_to(client, "R" + std::to_string(i), inet("127.0.0.1", 6005)), 2);
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(receive(server), "R" + std::to_string(i));
  pollfd ready{server, POLLIN, 0};
  EXPECT_EQ(::poll(&ready, 1, 200), 0) << "the unreliable datagrams were dropped";
}

TEST_F(DatagramTest, SendmmsgAndRecvmmsgCarryEveryDatagramAndSource) {
  int server = receiver("127.0.0.1", 6008);
  int client = udp_socket();
  auto destination = inet("127.0.0.1", 6008);
  std::string texts[3] = {"one", "two!", "three"};
  mmsghdr out[3] = {};
  iovec out_parts[3];
  for (int i = 0; i < 3; ++i) {
    out_parts[i] = {texts[i].data(), texts[i].size()};
    out[i].msg_hdr.msg_name = &destination;
    out[i].msg_hdr.msg_namelen = sizeof destination;
    out[i].msg_hdr.msg_iov = &out_parts[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_EQ(ops::sendmmsg(client, out, 3, 0), 3) << std::strerror(errno);
  ASSERT_TRUE(is_bridged_datagram(client)) << "sendmmsg classifies on its first destination";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i].msg_len, texts[i].size());
  auto client_port = ntohs(name_of(client).sin_port);
  mmsghdr in[4] = {};
  char buffers[4][64];
  iovec in_parts[4];
  sockaddr_in sources[4];
  for (int i = 0; i < 4; ++i) {
    in_parts[i] = {buffers[i], sizeof buffers[i]};
    in[i].msg_hdr.msg_name = &sources[i];
    in[i].msg_hdr.msg_namelen = sizeof sources[i];
    in[i].msg_hdr.msg_iov = &in_parts[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  int got = 0;
  for (int attempt = 0; attempt < 100 && got < 3; ++attempt) {
    pollfd ready{server, POLLIN, 0};
    ::poll(&ready, 1, 100);
    int count = ops::recvmmsg(server, in + got, 4 - got, MSG_WAITFORONE, nullptr);
    if (count > 0) got += count;
  }
  ASSERT_EQ(got, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(std::string(buffers[i], in[i].msg_len), texts[i]);
    EXPECT_EQ(in[i].msg_hdr.msg_namelen, sizeof(sockaddr_in));
    EXPECT_EQ(ntohs(sources[i].sin_port), client_port);
  }
}

TEST_F(DatagramTest, RecordsWithoutTheHeaderAreCountedAndDropped) {
  int server = receiver("127.0.0.1", 6007);
  int client = udp_socket();
  ASSERT_EQ(send_to(client, "first", inet("127.0.0.1", 6007)), 5);
  EXPECT_EQ(receive(server), "first");
  // Bytes written past the interposed calls (as sendfile would): no header.
  ASSERT_EQ(TMC_REAL(send)(client, "raw bytes without any header at all", 35, 0), 35);
  ASSERT_EQ(TMC_REAL(send)(client, "x", 1, 0), 1);
  auto socket = FdTable::get(client)->datagram;
  for (int i = 0; i < 200 && socket->malformed_records() < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(socket->malformed_records(), 2u);
  ASSERT_EQ(send_to(client, "after", inet("127.0.0.1", 6007)), 5);
  EXPECT_EQ(receive(server), "after") << "the socket keeps working";
}

TEST_F(DatagramTest, UnmatchedSocketsStayKernelSockets) {
  int fd = udp_socket();
  auto address = inet("127.0.0.1", 0);  // port 0 is no receiver rule's
  EXPECT_FALSE(datagram::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address).has_value());
  EXPECT_FALSE(datagram::classify_for_send(fd, reinterpret_cast<sockaddr*>(&address), sizeof address));
  auto elsewhere = inet("127.0.0.2", 9);
  EXPECT_FALSE(datagram::classify_for_send(fd, reinterpret_cast<sockaddr*>(&elsewhere), sizeof elsewhere));
  EXPECT_FALSE(FdTable::managed(fd));
  // A TCP socket sending to a udp-sender destination is not touched either.
  int stream = ::socket(AF_INET, SOCK_STREAM, 0);
  opened_.push_back(stream);
  auto destination = inet("127.0.0.1", 6001);
  EXPECT_FALSE(datagram::classify_for_send(stream, reinterpret_cast<sockaddr*>(&destination), sizeof destination));
}

TEST_F(DatagramTest, ClosingReleasesEveryFdAndThePort) {
  int baseline = 0;
  for (int round = 0; round < 20; ++round) {
    if (round == 1) baseline = count_fds();  // after the bridge's own fds exist
    int server = receiver("127.0.0.1", 6006);
    int client = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_EQ(send_to(client, "x", inet("127.0.0.1", 6006)), 1);
    EXPECT_EQ(receive(server), "x");
    ops::close(client);
    ops::close(server);
    for (int i = 0; i < 200 && datagram_bridge()->socket_count() > 0; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(datagram_bridge()->socket_count(), 0u) << "round " << round;
  }
  opened_.clear();
  EXPECT_LE(count_fds(), baseline);
}

}  // namespace
}  // namespace tmc::shim
