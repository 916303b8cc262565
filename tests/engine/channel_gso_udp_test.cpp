// tmc::Channel with the UDP segmentation offloads (transport/udp_socket.h, gso_batcher.h,
// gro_splitter.h) over real sockets: on loopback and between two network namespaces on a
// bridge with MTU 1500 (needs root; skipped with a message otherwise). A multi-MiB message
// and a burst of small messages arrive whole and in order, and the Stats counters show that
// GSO and GRO were really used where the kernel has them. Segments of one GRO datagram are
// validated one by one: a malformed or truncated segment is counted and dropped alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/socket_address.h"
#include "ebpf/netns_testbed.h"
#include "tmc/channel.h"
#include "tmc/wire_format.h"
#include "transport/udp_socket.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;
using bpf::test::InNetns;
using bpf::test::Testbed;

std::string text_of(const Message& message) {
  return {reinterpret_cast<const char*>(message.payload.data()), message.payload.size()};
}

// Whether this kernel gives a socket both offloads (and TMC_UDP_GSO does not turn them off).
bool kernel_offloads() {
  transport::UdpSocket probe(*core::SocketAddress::parse("127.0.0.1:0"));
  return probe.gso_enabled() && probe.gro_enabled();
}

std::vector<std::byte> large_payload(std::size_t size) {
  std::vector<std::byte> payload(size);
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::byte>((i * 131 + i / 4096) & 0xff);
  return payload;
}

Manifest reliable_fifo(const std::string& channel) {
  Manifest manifest;
  manifest.channel = channel;
  manifest.ordering = Ordering::fifo;
  manifest.reliability = Reliability{.kind = Reliability::Kind::all};
  return manifest;
}

struct Traffic {
  Stats sender, receiver;
};

// From `a` to `b`: one `large`-byte message between small ones, then `small` messages of
// one size sent back to back. Asserts every message arrives in order with its bytes.
Traffic send_large_and_small(Channel& a, Channel& b, std::size_t large, int small) {
  const auto payload = large_payload(large);
  std::vector<Completion> completions;
  completions.push_back(a.send("before"));
  completions.push_back(a.send(std::span<const std::byte>(payload)));
  for (int i = 0; i < small; ++i) {
    char text[32];
    std::snprintf(text, sizeof text, "small %06d", i);  // one size: runs of equal packets
    completions.push_back(a.send(std::string_view(text)));
  }
  for (auto& completion : completions) EXPECT_EQ(completion.wait_for(30s), SendStatus::delivered);
  auto first = b.recv(10s);
  EXPECT_TRUE(first && text_of(*first) == "before");
  auto big = b.recv(10s);
  EXPECT_TRUE(big);
  if (big) {
    EXPECT_TRUE(big->payload == payload) << "large message: " << big->payload.size() << " bytes";
  }
  for (int i = 0; i < small; ++i) {
    auto message = b.recv(10s);
    char text[32];
    std::snprintf(text, sizeof text, "small %06d", i);
    EXPECT_TRUE(message && text_of(*message) == text) << "small message " << i;
    if (!message) break;
  }
  const Traffic traffic{a.stats(), b.stats()};
  return traffic;
}

struct LoopbackPair {
  std::unique_ptr<Channel> a, b;
  explicit LoopbackPair(Manifest manifest) {
    manifest.multicast = Multicast{.members = {{"a", ""}, {"b", ""}}};
    a = std::make_unique<Channel>(manifest, ChannelOptions{.self = "a", .local_address = "127.0.0.1:0"});
    b = std::make_unique<Channel>(manifest, ChannelOptions{.self = "b", .local_address = "127.0.0.1:0"});
    for (auto* channel : {a.get(), b.get()}) {
      channel->add_member({"a", "127.0.0.1:" + std::to_string(a->local_port())});
      channel->add_member({"b", "127.0.0.1:" + std::to_string(b->local_port())});
    }
  }
};

TEST(ChannelGsoUdp, LargeAndSmallMessagesOnLoopbackUseGsoAndGro) {
  if (!kernel_offloads()) GTEST_SKIP() << "kernel without UDP GSO/GRO (or TMC_UDP_GSO=0)";
  Manifest manifest = reliable_fifo("gso-loopback");
  manifest.mtu = 1500;  // loopback's own MTU (65536) makes 64 KiB packets that never share a super-packet
  LoopbackPair pair(manifest);
  const Traffic traffic = send_large_and_small(*pair.a, *pair.b, 4 << 20, 3000);
  EXPECT_GT(traffic.sender.gso_sends, 0u);
  EXPECT_GE(traffic.sender.gso_segments, 2 * traffic.sender.gso_sends) << "every super-packet holds >= 2 packets";
  EXPECT_GT(traffic.sender.gso_segments, (4u << 20) / 1500 / 2) << "most fragments of the large message";
  EXPECT_GT(traffic.receiver.gro_receives, 0u);
  EXPECT_GE(traffic.receiver.gro_segments, 2 * traffic.receiver.gro_receives);
  EXPECT_EQ(traffic.receiver.malformed_dropped, 0u);
  EXPECT_LE(traffic.receiver.gro_segments, traffic.receiver.packets_received);
}

TEST(ChannelGsoUdp, TmcUdpGsoZeroSendsEveryPacketAloneAndStillDelivers) {
  ::setenv("TMC_UDP_GSO", "0", 1);
  Manifest manifest = reliable_fifo("gso-off");
  manifest.mtu = 1500;
  LoopbackPair pair(manifest);  // the sockets read the switch when they open
  ::unsetenv("TMC_UDP_GSO");
  const Traffic traffic = send_large_and_small(*pair.a, *pair.b, 1 << 20, 1000);
  EXPECT_EQ(traffic.sender.gso_sends, 0u);
  EXPECT_EQ(traffic.sender.gso_segments, 0u);
  EXPECT_EQ(traffic.receiver.gro_receives, 0u);
}

// Three captured DATA packets of one size and a cut copy of a fourth, sent as one GSO
// super-packet to a receiver with UDP_GRO: the segment with a bad version and the truncated
// last one are counted as malformed and dropped; the two good ones are delivered.
TEST(ChannelGsoUdp, MalformedAndTruncatedSegmentsOfAGroDatagramAreDroppedAlone) {
  if (!kernel_offloads()) GTEST_SKIP() << "kernel without UDP GSO/GRO (or TMC_UDP_GSO=0)";
  Manifest manifest;
  manifest.channel = "gso-malformed";
  manifest.multicast = Multicast{.members = {{"a", ""}, {"b", ""}}};
  transport::UdpSocket capture(*core::SocketAddress::parse("127.0.0.1:0"));
  std::vector<std::vector<std::byte>> packets;
  core::SocketAddress a_address;
  {
    Channel a(manifest, ChannelOptions{.self = "a", .local_address = "127.0.0.1:0"});
    a_address = *core::SocketAddress::parse("127.0.0.1:" + std::to_string(a.local_port()));
    a.add_member({"a", a_address.to_string()});
    a.add_member({"b", capture.local_address().to_string()});
    for (int i = 0; i < 4; ++i) a.send("segment " + std::to_string(i));  // one length each
    for (int waits = 0; packets.size() < 4 && waits < 200; ++waits) {
      std::this_thread::sleep_for(5ms);
      capture.receive_batch([&](std::span<const std::byte> datagram, const core::SocketAddress&) {
        packets.emplace_back(datagram.begin(), datagram.end());
      });
    }
  }  // a closes: its port is free for the injector below, so the packets come from a's address
  ASSERT_EQ(packets.size(), 4u);
  for (const auto& packet : packets) ASSERT_EQ(packet.size(), packets[0].size());
  packets[1][2] = std::byte{TMC_VERSION + 1};   // byte 2: version (docs/wire-format.md)
  packets[3].resize(packets[3].size() - 5);     // a cut last segment: shorter, as GRO allows

  Channel b(manifest, ChannelOptions{.self = "b", .local_address = "127.0.0.1:0"});
  b.add_member({"a", a_address.to_string()});
  b.add_member({"b", "127.0.0.1:" + std::to_string(b.local_port())});
  transport::UdpSocket injector(a_address);
  const auto b_address = *core::SocketAddress::parse("127.0.0.1:" + std::to_string(b.local_port()));
  for (const auto& packet : packets) injector.queue(b_address, packet);
  ASSERT_EQ(injector.flush(), 0u);
  ASSERT_EQ(injector.offload_counters().gso_sends, 1u) << "the four left as one super-packet";

  auto first = b.recv(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(text_of(*first), "segment 0");
  auto second = b.recv(5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(text_of(*second), "segment 2");
  EXPECT_FALSE(b.recv(100ms)) << "nothing else";
  const Stats stats = b.stats();
  EXPECT_EQ(stats.gro_receives, 1u);
  EXPECT_EQ(stats.gro_segments, 4u);
  EXPECT_EQ(stats.malformed_dropped, 2u);
}

// Two hosts in network namespaces on a bridge, veths with the default MTU 1500: the probed
// path MTU sizes the fragments (1472-byte packets), the super-packets cross the veth whole and
// reach the receiving socket as GRO datagrams.
TEST(ChannelGsoUdp, LargeAndSmallMessagesBetweenNetnsHostsWithMtu1500UseGsoAndGro) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  if (!kernel_offloads()) GTEST_SKIP() << "kernel without UDP GSO/GRO (or TMC_UDP_GSO=0)";
  std::unique_ptr<Testbed> bed;
  try {
    bed = std::make_unique<Testbed>(2);
  } catch (const std::exception& error) {
    GTEST_SKIP() << "no network namespaces: " << error.what();
  }
  Manifest manifest = reliable_fifo("gso-netns");
  manifest.multicast = Multicast{.members = {{"a", Testbed::ip(0) + ":7411"}, {"b", Testbed::ip(1) + ":7412"}}};
  std::unique_ptr<Channel> a, b;
  {
    InNetns in_host(bed->host(1));
    b = std::make_unique<Channel>(manifest, ChannelOptions{.self = "b"});
  }
  {
    InNetns in_host(bed->host(0));
    a = std::make_unique<Channel>(manifest, ChannelOptions{.self = "a"});
  }
  EXPECT_NE(a->plan().find("1500"), std::string::npos) << a->plan();
  const Traffic traffic = send_large_and_small(*a, *b, 4 << 20, 3000);
  EXPECT_GT(traffic.sender.gso_sends, 0u);
  EXPECT_GT(traffic.sender.gso_segments, (4u << 20) / 1472 / 2) << "most fragments of the large message";
  EXPECT_GT(traffic.receiver.gro_receives, 0u);
  EXPECT_GE(traffic.receiver.gro_segments, 2 * traffic.receiver.gro_receives);
  EXPECT_EQ(traffic.receiver.malformed_dropped, 0u);
  a.reset();
  b.reset();
}

// Streaming large unreliable sends go into the socket's kernel cork (SendCoalescer::cork):
// consecutive 16 KiB messages leave together as GSO super-packets, each arrives once, whole,
// and in order (on loopback nothing is lost), and a burst's last message, corked with no send
// after it, still arrives: the channel's cork timer pushes it.
Manifest unreliable(const std::string& channel) {
  Manifest manifest;
  manifest.channel = channel;
  manifest.reliability = Reliability{.kind = Reliability::Kind::none};
  manifest.ordering = Ordering::none;
  return manifest;
}

std::vector<std::byte> numbered_payload(std::uint32_t number, std::size_t size) {
  auto payload = large_payload(size);
  std::memcpy(payload.data(), &number, sizeof number);
  return payload;
}

TEST(ChannelGsoUdp, StreamingLargeUnreliableSendsShareCorkedSuperPacketsAndAllArrive) {
  if (!kernel_offloads()) GTEST_SKIP() << "kernel without UDP GSO/GRO (or TMC_UDP_GSO=0)";
  LoopbackPair pair(unreliable("cork-stream"));
  constexpr std::uint32_t kBursts = 50, kPerBurst = 8;  // bursts, so the socket buffers never overflow
  std::uint32_t next = 0;
  for (std::uint32_t burst = 0; burst < kBursts; ++burst) {
    std::vector<std::vector<std::byte>> payloads;
    for (std::uint32_t i = 0; i < kPerBurst; ++i) payloads.push_back(numbered_payload(next + i, 16384));
    for (const auto& payload : payloads) EXPECT_EQ(pair.a->send(std::span<const std::byte>(payload)).status(), SendStatus::delivered);
    for (std::uint32_t i = 0; i < kPerBurst; ++i, ++next) {
      auto message = pair.b->recv(5s);  // the burst's last ones wait for the cork timer
      ASSERT_TRUE(message) << "message " << next << " never arrived";
      EXPECT_TRUE(message->payload == numbered_payload(next, 16384)) << "message " << next;
    }
  }
  EXPECT_FALSE(pair.b->recv(50ms)) << "a duplicate";
  const Stats sender = pair.a->stats(), receiver = pair.b->stats();
  EXPECT_EQ(receiver.messages_delivered, kBursts * kPerBurst);
  EXPECT_EQ(receiver.malformed_dropped, 0u);
  if (sender.corked_packets == 0) GTEST_SKIP() << "no send followed the previous one closely enough to be corked";
  EXPECT_LE(sender.corked_packets, sender.packets_sent);
  EXPECT_GT(sender.gso_sends, 0u) << "corked packets left as super-packets";
  EXPECT_GE(sender.gso_segments, 2 * sender.gso_sends);
}

TEST(ChannelGsoUdp, ACorkedLastMessageIsPushedByTheTimerWithoutAnotherSend) {
  if (!kernel_offloads()) GTEST_SKIP() << "kernel without UDP GSO/GRO (or TMC_UDP_GSO=0)";
  LoopbackPair pair(unreliable("cork-tail"));
  // Pairs of back-to-back sends after a pause: the second of a pair follows closely and is
  // corked; nothing follows it.
  int corked_pairs = 0;
  for (std::uint32_t round = 0; round < 20 && corked_pairs < 3; ++round) {
    const auto first = numbered_payload(2 * round, 16384), second = numbered_payload(2 * round + 1, 16384);
    const std::uint64_t corked_before = pair.a->stats().corked_packets;
    pair.a->send(std::span<const std::byte>(first));
    pair.a->send(std::span<const std::byte>(second));
    const bool corked = pair.a->stats().corked_packets > corked_before;
    for (const auto* expected : {&first, &second}) {
      auto message = pair.b->recv(2s);
      ASSERT_TRUE(message) << "round " << round << (corked ? ": the corked message was never pushed" : "");
      EXPECT_TRUE(message->payload == *expected) << "round " << round;
    }
    if (corked) ++corked_pairs;
    std::this_thread::sleep_for(2ms);  // a pause: the next pair starts afresh
  }
  if (corked_pairs == 0) GTEST_SKIP() << "no second send followed closely enough to be corked";
}

}  // namespace
}  // namespace tmc
