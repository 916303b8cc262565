// tmc::Channel compiled against the operator's capabilities file (ChannelOptions::capabilities,
// $TMC_CAPABILITIES): plan() names each choice and why, and the packets on the wire follow it —
// checked with a plain UDP socket standing in for member b, so nothing in the engine grades
// itself: the CRC32C flag, datagram sizes (MTU) and one datagram per member (fan-out).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tmc/capabilities.h"
#include "tmc/channel.h"
#include "tmc/manifest_yaml.h"
#include "tmc/wire_format.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

// A bound UDP socket on 127.0.0.1 that records what arrives.
struct RawPeer {
  int fd = -1;
  std::uint16_t port = 0;
  RawPeer() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~RawPeer() { ::close(fd); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  // Datagrams that arrive within `wait` of each other.
  std::vector<std::vector<unsigned char>> receive(std::chrono::milliseconds wait = 300ms) {
    std::vector<std::vector<unsigned char>> datagrams;
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return datagrams;
      std::vector<unsigned char> buffer(70000);
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) return datagrams;
      buffer.resize(static_cast<std::size_t>(n));
      datagrams.push_back(std::move(buffer));
    }
  }
};

std::uint16_t flags_of(const std::vector<unsigned char>& packet) {
  return static_cast<std::uint16_t>(packet[TMC_OFF_FLAGS] << 8 | packet[TMC_OFF_FLAGS + 1]);
}
bool is_data(const std::vector<unsigned char>& packet) {
  return packet.size() >= TMC_DATA_HEADER_SIZE && packet[TMC_OFF_TYPE] == TMC_TYPE_DATA;
}

Manifest two_members(const RawPeer& b, ErrorChecking checking = ErrorChecking::crc32c) {
  return Manifest{.channel = "caps-test",
                  .multicast = Multicast{.members = {{"a", "127.0.0.1:0"}, {"b", b.address()}}},
                  .error_checking = checking};
}

std::shared_ptr<const Capabilities> caps(const std::string& yaml) {
  return std::make_shared<const Capabilities>(parse_capabilities(yaml, "caps.yaml"));
}

std::vector<std::vector<unsigned char>> data_packets(RawPeer& peer) {
  std::vector<std::vector<unsigned char>> data;
  for (auto& packet : peer.receive())
    if (is_data(packet)) data.push_back(std::move(packet));
  return data;
}

TEST(ChannelCapabilities, ChecksumOffloadOnEveryHostDropsTheSoftwareCrc) {
  for (bool offload : {false, true}) {
    SCOPED_TRACE(offload ? "offload declared" : "no offload");
    RawPeer b;
    Channel a(two_members(b), {.self = "a", .capabilities = caps(offload ? "defaults: {checksum_offload: true}\n"
                                                                        : "hosts: {a: {checksum_offload: true}}\n")});
    const std::string plan = a.plan();
    if (offload) {
      EXPECT_NE(plan.find("error_checking: nic-offload -- checksum_offload declared for every member host (a, b) in caps.yaml"),
                std::string::npos) << plan;
      EXPECT_EQ(plan.find("verify crc32c"), std::string::npos) << plan;
    } else {
      EXPECT_NE(plan.find("error_checking: crc32c (software) -- checksum_offload not declared for b in caps.yaml"),
                std::string::npos) << plan;
      EXPECT_NE(plan.find("verify crc32c"), std::string::npos) << plan;
    }
    a.send("hello");
    auto packets = data_packets(b);
    ASSERT_EQ(packets.size(), 1u);
    EXPECT_EQ((flags_of(packets[0]) & TMC_FLAG_CHECKSUM) != 0, !offload) << "the CRC32C flag on the wire";
  }
}

TEST(ChannelCapabilities, DeclaredMtuBoundsEveryDatagram) {
  RawPeer b;
  Channel a(two_members(b, ErrorChecking::none), {.self = "a", .capabilities = caps("defaults: {mtu: 9000}\nhosts: {b: {mtu: 1200}}\n")});
  EXPECT_NE(a.plan().find("mtu: 1200 -- smallest MTU declared for the member hosts (b) in caps.yaml"), std::string::npos)
      << a.plan();
  EXPECT_NE(a.plan().find("(mtu 1200)"), std::string::npos) << a.plan();
  a.send(std::string(5000, 'x'));
  auto packets = data_packets(b);
  ASSERT_GE(packets.size(), 5u) << "5000 bytes in fragments of at most 1200 - 28 bytes";
  for (const auto& packet : packets) EXPECT_LE(packet.size() + 28, 1200u);

  // Without the file the engine probes the path (65535 on loopback): one datagram.
  RawPeer b2;
  Channel a2(two_members(b2, ErrorChecking::none), {.self = "a"});
  a2.send(std::string(5000, 'x'));
  EXPECT_EQ(data_packets(b2).size(), 1u);
}

TEST(ChannelCapabilities, FanOutFollowsTheMulticastCapabilities) {
  const Manifest manifest{.multicast = Multicast{.members = {{"a", "10.0.0.1:7000"}, {"b", "10.0.0.2:7000"}, {"c", "10.0.0.3:7000"}},
                                                 .group = "239.1.2.3:7000"}};
  auto plan_with = [&](const std::string& yaml) {
    const Capabilities capabilities = parse_capabilities(yaml, "caps.yaml");
    return describe_plan(manifest, &capabilities, "a");
  };
  EXPECT_NE(plan_with("defaults: {ip_multicast: true}\n").find("multicast: ip-multicast 239.1.2.3:7000 -- ip_multicast declared for every member host"),
            std::string::npos);
  const std::string ebpf = plan_with("hosts: {a: {ip_multicast: true, ebpf_fanout: true}}\n");
  EXPECT_NE(ebpf.find("multicast: ebpf-fanout -- ip_multicast not declared for b, c in caps.yaml; ebpf_fanout permitted on a"),
            std::string::npos) << ebpf;
  EXPECT_EQ(ebpf.find("IP multicast group"), std::string::npos) << "the group is not used without ip_multicast";
  const std::string user = plan_with("hosts: {a: {ip_multicast: true}}\n");
  EXPECT_NE(user.find("multicast: user-space-fanout -- ip_multicast not declared for b, c in caps.yaml; ebpf_fanout not permitted on a"),
            std::string::npos) << user;
  // Without a capabilities file the manifest's group is used as written.
  EXPECT_NE(describe_plan(manifest, nullptr, "a").find("IP multicast group 239.1.2.3:7000"), std::string::npos);
}

TEST(ChannelCapabilities, UserSpaceFanOutSendsOneDatagramPerMember) {
  RawPeer b, c;
  const Manifest manifest{.channel = "caps-fanout",
                          .multicast = Multicast{.members = {{"a", "127.0.0.1:0"}, {"b", b.address()}, {"c", c.address()}},
                                                 .group = "239.1.2.3:7000"}};
  // ip_multicast only on a: the group cannot be used; no eBPF: every member gets its own copy.
  Channel a(manifest, {.self = "a", .capabilities = caps("hosts: {a: {ip_multicast: true}}\n")});
  a.send("to everyone");
  EXPECT_EQ(data_packets(b).size(), 1u);
  EXPECT_EQ(data_packets(c).size(), 1u);
}

TEST(ChannelCapabilities, EbpfFanOutThatCannotAttachFallsBackToUserSpace) {
  // ebpf_fanout is permitted, but the members are on loopback (no L2 to clone onto) — or, where
  // BPF is not permitted at all, the probe refuses: either way the channel says why once and
  // every member still gets its copy from user space (tests/ebpf covers the attached case).
  RawPeer b, c;
  const Manifest manifest{.channel = "caps-ebpf-fallback",
                          .multicast = Multicast{.members = {{"a", "127.0.0.1:0"}, {"b", b.address()}, {"c", c.address()}}}};
  Channel a(manifest, {.self = "a", .capabilities = caps("hosts: {a: {ebpf_fanout: true}}\n")});
  const std::string plan = a.plan();
  EXPECT_NE(plan.find("multicast: ebpf-fanout"), std::string::npos) << plan;
  EXPECT_NE(plan.find("; not attached, user-space fan-out meanwhile: "), std::string::npos) << plan;
  EXPECT_NE(plan.find("one UDP send per member (user-space fan-out)"), std::string::npos) << plan;
  a.send("to everyone");
  EXPECT_EQ(data_packets(b).size(), 1u);
  EXPECT_EQ(data_packets(c).size(), 1u);
}

TEST(ChannelCapabilities, TheEnvironmentNamesTheFileAndErrorsCarryThePosition) {
  RawPeer b;
  const std::string path = ::testing::TempDir() + "caps_env_" + std::to_string(getpid()) + ".yaml";
  std::ofstream(path) << "defaults: {checksum_offload: true}\n";
  ::setenv("TMC_CAPABILITIES", path.c_str(), 1);
  {
    Channel a(two_members(b), {.self = "a"});
    EXPECT_NE(a.plan().find("error_checking: nic-offload"), std::string::npos) << a.plan();
    EXPECT_NE(a.plan().find("transport plan (" + path + ")"), std::string::npos) << a.plan();
  }
  std::ofstream(path) << "defaults:\n  mtu: 12\n";
  try {
    Channel a(two_members(b), {.self = "a"});
    ADD_FAILURE() << "a malformed capabilities file must fail the channel";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file(), path);
    EXPECT_EQ(error.line(), 2);
  }
  ::unsetenv("TMC_CAPABILITIES");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tmc
