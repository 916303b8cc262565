// The engine adopts the eBPF fan-out (issue 4): a tmc::Channel whose capabilities permit
// ebpf_fanout on its host attaches ebpf/'s tc egress program and sends ONE datagram per group
// send, to members[0]; the kernel clones it for the other members. Three hosts in network
// namespaces on a bridge (netns_testbed.h); the same channel without the capability sends one
// datagram per member. Skips only when BPF or network namespaces are really unavailable.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/capabilities.h"
#include "tmc/channel.h"

namespace tmc::bpf::test {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 200;

tmc::Manifest group_manifest(const std::string& channel) {
  tmc::Manifest manifest;
  manifest.channel = channel;
  manifest.multicast = tmc::Multicast{.members = {{"a", Testbed::ip(0) + ":7301"},
                                                  {"b", Testbed::ip(1) + ":7302"},
                                                  {"c", Testbed::ip(2) + ":7303"}}};
  manifest.reliability = tmc::Reliability{.kind = tmc::Reliability::Kind::all};
  return manifest;
}

struct GroupRun {
  std::uint64_t packets_sent = 0;  // datagrams a handed to its socket for the data
  std::uint64_t gso_sends = 0;     // UDP GSO super-packets among them
  std::string plan;
  bool delivered_everywhere = false;
};

GroupRun send_to_group(Testbed& bed, bool ebpf_permitted) {
  const tmc::Manifest manifest = group_manifest(ebpf_permitted ? "fanout-ebpf" : "fanout-user");
  auto capabilities = std::make_shared<const tmc::Capabilities>(tmc::parse_capabilities(
      ebpf_permitted ? "hosts: {a: {ebpf_fanout: true}}\n" : "defaults: {ebpf_fanout: false}\n", "caps.yaml"));
  std::vector<std::unique_ptr<tmc::Channel>> channels;
  for (int i = 2; i >= 0; --i) {  // receivers first, the sender (which attaches) last
    InNetns in_host(bed.host(i));  // sockets, the tc attachment and neighbour lookups live here
    const std::string self(1, static_cast<char>('a' + i));
    channels.insert(channels.begin(), std::make_unique<tmc::Channel>(manifest, tmc::ChannelOptions{.self = self, .capabilities = capabilities}));
  }
  GroupRun run;
  run.plan = channels[0]->plan();
  const std::uint64_t before = channels[0]->stats().packets_sent;
  std::vector<tmc::Completion> completions;
  for (int m = 0; m < kMessages; ++m) completions.push_back(channels[0]->send("message " + std::to_string(m)));
  bool all_acked = true;
  for (auto& completion : completions) all_acked &= completion.wait_for(10s) == tmc::SendStatus::delivered;
  const tmc::Stats stats = channels[0]->stats();
  run.packets_sent = stats.packets_sent - before - stats.retransmissions;
  run.gso_sends = stats.gso_sends;
  int received[2] = {0, 0};
  for (int r = 0; r < 2; ++r)
    while (channels[r + 1]->recv(200ms)) ++received[r];
  EXPECT_TRUE(all_acked) << run.plan;
  EXPECT_EQ(received[0], kMessages);
  EXPECT_EQ(received[1], kMessages);
  run.delivered_everywhere = all_acked && received[0] == kMessages && received[1] == kMessages;
  return run;
}

TEST(ChannelFanoutNetnsTest, EbpfCapabilitySendsOnePacketPerGroupSend) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(3);

  const GroupRun ebpf = send_to_group(bed, true);
  EXPECT_NE(ebpf.plan.find("multicast: ebpf-fanout"), std::string::npos) << ebpf.plan;
  EXPECT_NE(ebpf.plan.find("attached: tc egress program on eth0"), std::string::npos) << ebpf.plan;
  EXPECT_NE(ebpf.plan.find("cloned per member by the eBPF fan-out"), std::string::npos) << ebpf.plan;
  EXPECT_TRUE(ebpf.delivered_everywhere);
  EXPECT_EQ(ebpf.packets_sent, std::uint64_t(kMessages)) << "one datagram per group send; the kernel makes the copies";
  // The tc program judges a packet by its first TMC header: it never gets a GSO super-packet.
  EXPECT_EQ(ebpf.gso_sends, 0u);

  const GroupRun user = send_to_group(bed, false);
  EXPECT_NE(user.plan.find("multicast: user-space-fanout"), std::string::npos) << user.plan;
  EXPECT_TRUE(user.delivered_everywhere);
  EXPECT_EQ(user.packets_sent, std::uint64_t(2 * kMessages)) << "one datagram per member without the capability";

  // The channel detached its program when it closed.
  std::string filters;
  run_command("ip netns exec " + bed.host(0) + " tc filter show dev eth0 egress", &filters);
  EXPECT_EQ(filters.find("tmc_fanout"), std::string::npos) << filters;
}

}  // namespace
}  // namespace tmc::bpf::test
