// The engine adopts the eBPF fan-out (issue 4): a tmc::Channel whose capabilities permit
// ebpf_fanout on its host attaches ebpf/'s tc egress program and sends ONE datagram per group
// send, to members[0]; the kernel clones it for the other members. Three hosts in network
// namespaces on a bridge (netns_testbed.h); the same channel without the capability sends one
// datagram per member. GSO stays on with the fan-out: only datagrams the program treats alike
// share a super-packet (tmc/fanout_rule.h), also when repairs and fresh data to members[0] are
// queued together. Skips only when BPF or network namespaces are really unavailable.
#include <gtest/gtest.h>

#include <net/if.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/loss_injector.h"
#include "tmc/capabilities.h"
#include "tmc/channel.h"

namespace tmc::bpf::test {
namespace {

using namespace std::chrono_literals;

constexpr int kMessages = 200;
constexpr std::size_t kMessageSize = 100;  // equal sizes: a burst can leave as UDP GSO super-packets

tmc::Manifest group_manifest(const std::string& channel) {
  tmc::Manifest manifest;
  manifest.channel = channel;
  manifest.multicast = tmc::Multicast{.members = {{"a", Testbed::ip(0) + ":7301"},
                                                  {"b", Testbed::ip(1) + ":7302"},
                                                  {"c", Testbed::ip(2) + ":7303"}}};
  manifest.reliability = tmc::Reliability{.kind = tmc::Reliability::Kind::all};
  return manifest;
}

// Message m: its index, padded to kMessageSize.
std::string message_text(int m) {
  std::string text = "message " + std::to_string(m);
  text.resize(kMessageSize, '.');
  return text;
}

struct GroupRun {
  std::uint64_t packets_sent = 0;  // datagrams a handed to its socket for the data
  std::uint64_t gso_sends = 0;     // UDP GSO super-packets among them
  std::uint64_t retransmissions = 0;
  std::uint64_t duplicates_dropped[2] = {0, 0};  // at b and c
  std::uint64_t loss_dropped = 0;                // by the loss injector on b's ingress
  std::string plan;
  bool delivered_everywhere = false;
};

struct GroupOptions {
  bool ebpf_permitted = true;
  int messages = kMessages;
  double loss_at_b = 0;  // tmc-loss on b's eth0 ingress: b is members[0], whose repairs are unicast
};

GroupRun send_to_group(Testbed& bed, const GroupOptions& options) {
  tmc::Manifest manifest = group_manifest(options.ebpf_permitted ? "fanout-ebpf" : "fanout-user");
  if (options.loss_at_b > 0) {
    // A retransmission timer far above this testbed's RTT: repairs go only to the member that
    // lost a packet (b), never spuriously to c, so a duplicate at c can only be a clone.
    manifest.reliability->min_rto = 50ms;
    manifest.reliability->initial_rto = 50ms;
    manifest.reliability->member_timeout = 10s;
  }
  auto capabilities = std::make_shared<const tmc::Capabilities>(tmc::parse_capabilities(
      options.ebpf_permitted ? "hosts: {a: {ebpf_fanout: true}}\n" : "defaults: {ebpf_fanout: false}\n", "caps.yaml"));
  std::unique_ptr<LossInjector> loss;
  if (options.loss_at_b > 0) {
    InNetns in_b(bed.host(1));
    LossConfig config;
    config.rate = options.loss_at_b;
    config.seed = 4242;
    config.ports = {7302};
    loss = std::make_unique<LossInjector>(config);
    loss->attach(static_cast<int>(if_nametoindex("eth0")));
  }
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
  for (int m = 0; m < options.messages; ++m) completions.push_back(channels[0]->send(message_text(m)));
  bool all_acked = true;
  for (auto& completion : completions) all_acked &= completion.wait_for(20s) == tmc::SendStatus::delivered;
  const tmc::Stats stats = channels[0]->stats();
  run.packets_sent = stats.packets_sent - before - stats.retransmissions;
  run.gso_sends = stats.gso_sends;
  run.retransmissions = stats.retransmissions;
  // Every member delivers every message exactly once.
  bool exactly_once = true;
  for (int r = 0; r < 2; ++r) {
    std::vector<int> received(options.messages, 0);
    int unexpected = 0;
    while (auto message = channels[r + 1]->recv(300ms)) {
      const std::string text(reinterpret_cast<const char*>(message->payload.data()), message->payload.size());
      const int index = text.rfind("message ", 0) == 0 ? std::atoi(text.c_str() + 8) : -1;
      if (index < 0 || index >= options.messages || text != message_text(index)) ++unexpected; else ++received[index];
    }
    int wrong = 0;
    for (int m = 0; m < options.messages; ++m) wrong += received[m] != 1;
    EXPECT_EQ(unexpected, 0) << "member " << char('b' + r);
    EXPECT_EQ(wrong, 0) << "messages member " << char('b' + r) << " did not deliver exactly once";
    exactly_once &= unexpected == 0 && wrong == 0;
    run.duplicates_dropped[r] = channels[r + 1]->stats().duplicates_dropped;
  }
  if (loss) run.loss_dropped = loss->stats().dropped;
  EXPECT_TRUE(all_acked) << run.plan;
  run.delivered_everywhere = all_acked && exactly_once;
  return run;
}

TEST(ChannelFanoutNetnsTest, EbpfCapabilitySendsOnePacketPerGroupSend) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(3);

  const GroupRun ebpf = send_to_group(bed, {.ebpf_permitted = true});
  EXPECT_NE(ebpf.plan.find("multicast: ebpf-fanout"), std::string::npos) << ebpf.plan;
  EXPECT_NE(ebpf.plan.find("attached: tc egress program on eth0"), std::string::npos) << ebpf.plan;
  EXPECT_NE(ebpf.plan.find("cloned per member by the eBPF fan-out"), std::string::npos) << ebpf.plan;
  EXPECT_TRUE(ebpf.delivered_everywhere);
  EXPECT_EQ(ebpf.packets_sent, std::uint64_t(kMessages)) << "one datagram per group send; the kernel makes the copies";
  // GSO stays on with the fan-out: a burst of equal-size messages to members[0] leaves as
  // super-packets, which the program clones whole (tmc/fanout_rule.h keeps them homogeneous).
  EXPECT_GT(ebpf.gso_sends, 0u);

  const GroupRun user = send_to_group(bed, {.ebpf_permitted = false});
  EXPECT_NE(user.plan.find("multicast: user-space-fanout"), std::string::npos) << user.plan;
  EXPECT_TRUE(user.delivered_everywhere);
  EXPECT_EQ(user.packets_sent, std::uint64_t(2 * kMessages)) << "one datagram per member without the capability";

  // The channel detached its program when it closed.
  std::string filters;
  run_command("ip netns exec " + bed.host(0) + " tc filter show dev eth0 egress", &filters);
  EXPECT_EQ(filters.find("tmc_fanout"), std::string::npos) << filters;
}

// Reliable fan-out with loss on members[0]'s ingress: the repairs to b are unicast
// retransmissions queued next to fresh group data for the same address. They must never share
// a super-packet the program would clone (c would get duplicates) or pass whole (c would miss
// the fresh data in it): every member delivers every message exactly once, c sees no
// duplicate, and every send completes.
TEST(ChannelFanoutNetnsTest, RepairsToTheFirstMemberAreNeverCloned) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(3);

  const GroupRun run = send_to_group(bed, {.ebpf_permitted = true, .messages = 5000, .loss_at_b = 0.2});
  EXPECT_NE(run.plan.find("attached: tc egress program on eth0"), std::string::npos) << run.plan;
  EXPECT_TRUE(run.delivered_everywhere);
  EXPECT_GT(run.loss_dropped, 0u) << "the loss injector dropped nothing";
  EXPECT_GT(run.retransmissions, 0u);
  EXPECT_GT(run.gso_sends, 0u);
  EXPECT_EQ(run.duplicates_dropped[1], 0u) << "c got a clone of a repair meant for b";
  std::printf("loss dropped %llu, retransmissions %llu, gso sends %llu, duplicates at b %llu, at c %llu\n",
              (unsigned long long)run.loss_dropped, (unsigned long long)run.retransmissions,
              (unsigned long long)run.gso_sends, (unsigned long long)run.duplicates_dropped[0],
              (unsigned long long)run.duplicates_dropped[1]);
}

}  // namespace
}  // namespace tmc::bpf::test
