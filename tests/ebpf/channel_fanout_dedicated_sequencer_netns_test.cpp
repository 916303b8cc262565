// Total order with a dedicated sequencer over the eBPF fan-out: members a, b, c and a
// `tmc::SequencerService` on a fourth host, four network namespaces on a bridge
// (netns_testbed.h). a's capabilities permit ebpf_fanout, so its group sends leave as ONE
// datagram to members[0] and the tc program clones it for the others — the dedicated sequencer
// included (it is in the group stream's receiver list). Every member delivers the identical
// sequence; the sequencer stamped every message from first copies, not retransmissions.
// Skips only when BPF or network namespaces are really unavailable.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/capabilities.h"
#include "tmc/channel.h"
#include "tmc/sequencer_service.h"

namespace tmc::bpf::test {
namespace {

using namespace std::chrono_literals;

TEST(ChannelFanoutTotalOrderNetnsTest, TheKernelClonesTotalOrderDataToTheDedicatedSequencer) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(4);
  const std::string sequencer_address = Testbed::ip(3) + ":7399";
  tmc::Manifest manifest;
  manifest.channel = "fanout-dedicated-sequencer";
  manifest.multicast = tmc::Multicast{.members = {{"a", Testbed::ip(0) + ":7311"},
                                                  {"b", Testbed::ip(1) + ":7312"},
                                                  {"c", Testbed::ip(2) + ":7313"}}};
  manifest.ordering = tmc::Ordering::total;
  manifest.reliability = tmc::Reliability{.kind = tmc::Reliability::Kind::all};
  auto capabilities = std::make_shared<const tmc::Capabilities>(tmc::parse_capabilities(
      "hosts: {a: {ebpf_fanout: true}}\nsequencer: \"" + sequencer_address + "\"\n", "caps.yaml"));

  std::unique_ptr<tmc::SequencerService> sequencer;
  {
    InNetns in_host(bed.host(3));
    sequencer = std::make_unique<tmc::SequencerService>(manifest, tmc::SequencerOptions{.capabilities = capabilities});
  }
  ASSERT_EQ(sequencer->name(), sequencer_address);
  std::vector<std::unique_ptr<tmc::Channel>> channels;
  for (int i = 2; i >= 0; --i) {  // receivers first, the sender (which attaches) last
    InNetns in_host(bed.host(i));
    const std::string self(1, static_cast<char>('a' + i));
    channels.insert(channels.begin(), std::make_unique<tmc::Channel>(manifest, tmc::ChannelOptions{.self = self, .capabilities = capabilities}));
  }
  const std::string plan = channels[0]->plan();
  ASSERT_NE(plan.find("attached: tc egress program on eth0"), std::string::npos) << plan;
  ASSERT_NE(plan.find("ordering: total (dedicated sequencer " + sequencer_address + ")"), std::string::npos) << plan;

  constexpr int kMessages = 300;
  const std::uint64_t before = channels[0]->stats().packets_sent;
  std::vector<tmc::Completion> completions;
  for (int m = 0; m < kMessages; ++m) completions.push_back(channels[0]->send("message " + std::to_string(m)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(20s), tmc::SendStatus::delivered);

  std::vector<std::vector<std::string>> orders(3);
  for (int i = 0; i < 3; ++i)
    while (orders[i].size() < std::size_t(kMessages)) {
      auto message = channels[i]->recv(5s);
      if (!message) break;
      orders[i].push_back(std::to_string(message->group_sequence.value_or(~0ull)) + "=" +
                          std::string(reinterpret_cast<const char*>(message->payload.data()), message->payload.size()));
    }
  ASSERT_EQ(orders[0].size(), std::size_t(kMessages)) << "a delivers its own messages in group order too";
  EXPECT_EQ(orders[1], orders[0]);
  EXPECT_EQ(orders[2], orders[0]);

  const tmc::Stats a = channels[0]->stats();
  EXPECT_EQ(sequencer->stats().messages_stamped, std::uint64_t(kMessages));
  EXPECT_EQ(a.sequencer_changes, 0u);
  // One datagram per send (the kernel made the copies for c and the sequencer); a lost copy to
  // the sequencer would show as a retransmission.
  EXPECT_LT(a.retransmissions, std::uint64_t(kMessages / 10)) << "the sequencer did not get the clones";
  EXPECT_LE(a.packets_sent - before - a.retransmissions, std::uint64_t(kMessages) + 64)
      << "one datagram per group send (plus a few stamp requests)";
}

}  // namespace
}  // namespace tmc::bpf::test
