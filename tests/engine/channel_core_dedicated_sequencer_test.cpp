// ChannelCore with a dedicated sequencer (Config::dedicated_sequencer; the capabilities file's
// `sequencer` names an address that is no member), on the simulated network with a mock clock:
// the members send total-order DATA to it as to one more group-stream receiver, it stamps,
// members deliver identically; it is never a target, never holds up a send's completion; when
// it falls silent the members fail over to the lowest-named member (view 1).
#include <gtest/gtest.h>

#include <set>

#include "engine/sim_network.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;
using test::bytes_of;
using test::SimNetwork;
using test::text_of;

constexpr const char* kSequencer = "10.0.0.9:7100";

struct Group {
  SimNetwork network;
  Manifest manifest;
  Capabilities capabilities{.source = "caps.yaml", .sequencer = kSequencer};

  Group(FaultConfig faults, Manifest base) : network(faults) {
    base.ordering = Ordering::total;
    manifest = SimNetwork::group_manifest(3, base);
    for (int i = 0; i < 3; ++i) {
      core::ChannelCore::Config config{manifest, "n" + std::to_string(i), 0, std::uint64_t(10 + i)};
      config.capabilities = capabilities;
      network.add_node(config, *core::SocketAddress::parse("10.0.0." + std::to_string(i + 1) + ":7000"));
    }
    core::ChannelCore::Config config{manifest, kSequencer, 0, 99};
    config.capabilities = capabilities;
    config.dedicated_sequencer = true;
    network.add_node(config, *core::SocketAddress::parse(kSequencer));
  }
  SimNetwork::Node& member(int i) { return network.node(i); }
  SimNetwork::Node& sequencer() { return network.node(3); }

  // Each member sends `count` messages "n<i>:<k>", interleaved, `spacing` apart.
  std::vector<Completion> send_interleaved(int count, int first = 0, core::Duration spacing = 20us,
                                           std::vector<int> senders = {0, 1, 2}) {
    std::vector<Completion> completions;
    for (int k = first; k < first + count; ++k)
      for (int i : senders) {
        completions.push_back(member(i).core->send(bytes_of(member(i).name + ":" + std::to_string(k)), {}, network.now()));
        network.advance(spacing);
      }
    return completions;
  }
  std::vector<std::pair<std::uint64_t, std::string>> order_of(int i) {
    std::vector<std::pair<std::uint64_t, std::string>> order;
    for (const auto& message : member(i).delivered) order.emplace_back(message.group_sequence.value_or(~0ull), text_of(message.payload));
    return order;
  }
};

Manifest reliable() {
  return {.reliability = Reliability{.kind = Reliability::Kind::all, .min_rto = 1ms, .initial_rto = 2ms, .member_timeout = 300ms}};
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, TheDedicatedSequencerStampsAndMembersDeliverIdentically) {
  Group group(FaultConfig{.drop = 0.02, .duplicate = 0.01, .reorder = 0.02, .seed = 4}, reliable());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(group.member(i).core->stats().sequencer, kSequencer);
  EXPECT_NE(group.member(0).core->plan().find("ordering: total (dedicated sequencer 10.0.0.9:7100) -- sequencer declared in "
                                              "caps.yaml: not a member"),
            std::string::npos)
      << group.member(0).core->plan();
  EXPECT_NE(group.member(0).core->plan().find("3 member(s)"), std::string::npos) << "the sequencer is no member";
  auto completions = group.send_interleaved(500);
  group.network.run_quiet(2s);

  for (const auto& completion : completions) ASSERT_EQ(completion.status(), SendStatus::delivered);
  const auto order = group.order_of(0);
  ASSERT_EQ(order.size(), 1500u);
  for (std::size_t k = 0; k < order.size(); ++k) ASSERT_EQ(order[k].first, k);
  EXPECT_EQ(group.order_of(1), order);
  EXPECT_EQ(group.order_of(2), order);
  std::set<std::string> unique;
  for (const auto& [group_sequence, text] : order) unique.insert(text);
  EXPECT_EQ(unique.size(), 1500u) << "exactly once";

  const Stats sequencer = group.sequencer().core->stats();
  EXPECT_EQ(sequencer.messages_stamped, 1500u) << "the dedicated sequencer stamped each message once";
  EXPECT_GT(sequencer.acks_sent, 0u) << "reliable: it acknowledges the group stream";
  EXPECT_GT(sequencer.stamp_requests_answered, 0u) << "2% drop loses STAMPS: members ask it again";
  EXPECT_TRUE(group.sequencer().delivered.empty()) << "it delivers nothing";
  for (int i = 0; i < 3; ++i) {
    const Stats stats = group.member(i).core->stats();
    EXPECT_EQ(stats.messages_stamped, 0u);
    EXPECT_EQ(stats.sequencer_changes, 0u);
    EXPECT_GT(stats.retransmissions, 0u) << "2% drop: repaired";
  }
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, UnreliableGapsAreReportedOnce) {
  Group group(FaultConfig{.drop = 0.03, .seed = 8}, {});
  group.send_interleaved(400);
  group.network.run_quiet(1s);
  std::map<std::uint64_t, std::string> agreed;
  std::uint64_t gaps = 0;
  for (int i = 0; i < 3; ++i) {
    std::map<std::uint64_t, int> covered;
    for (const auto& [group_sequence, text] : group.order_of(i)) {
      ++covered[group_sequence];
      auto [it, fresh] = agreed.emplace(group_sequence, text);
      if (!fresh) EXPECT_EQ(it->second, text) << "members agree on group sequence " << group_sequence;
    }
    for (const auto& gap : group.member(i).gaps) {
      EXPECT_EQ(gap.sender_id, 0u);
      for (std::uint64_t g = gap.first; g < gap.first + gap.count; ++g) ++covered[g];
    }
    gaps += group.member(i).gaps.size();
    std::uint64_t expect = 0;
    for (const auto& [group_sequence, times] : covered) {
      ASSERT_EQ(group_sequence, expect) << "member " << i << ": neither delivered nor reported";
      ASSERT_EQ(times, 1) << "member " << i << ": group sequence " << group_sequence << " covered twice";
      ++expect;
    }
    EXPECT_EQ(expect, group.sequencer().core->stats().messages_stamped) << "member " << i << " covers every stamp";
  }
  EXPECT_GT(gaps, 0u);
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, CompletionNeverWaitsForTheDedicatedSequencer) {
  Group group(FaultConfig{}, reliable());
  group.sequencer().down = true;  // it never answers
  auto completions = group.send_interleaved(20);
  group.network.advance(40ms);  // well below member_timeout: only the members' acks count
  for (const auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, SilenceFailsOverToTheLowestNamedMember) {
  Manifest manifest = reliable();
  manifest.reliability->window = 32;  // most of the second batch waits in the backlog
  Group group(FaultConfig{.drop = 0.01, .seed = 2}, manifest);
  group.send_interleaved(200);
  group.network.run_quiet(500ms);
  ASSERT_EQ(group.order_of(0).size(), 600u);

  group.sequencer().down = true;  // the process is gone: nothing reaches it, it sends nothing
  group.sequencer().core->close();
  // Sent at once, before anyone noticed: these messages were meant for the dedicated sequencer
  // too, and most leave the backlog after the view moved on; none may wait for it.
  auto completions = group.send_interleaved(200, 200, 0us);
  group.network.run_quiet(3s);
  for (const auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
  const auto order = group.order_of(0);
  ASSERT_EQ(order.size(), 1200u);
  EXPECT_EQ(group.order_of(1), order);
  EXPECT_EQ(group.order_of(2), order);
  for (std::size_t k = 0; k < order.size(); ++k) ASSERT_EQ(order[k].first, k);
  for (int i = 0; i < 3; ++i) {
    const Stats stats = group.member(i).core->stats();
    EXPECT_EQ(stats.sequencer, "n0") << "view 1: candidates are " << kSequencer << ", n0, n1, n2";
    EXPECT_EQ(stats.sequencer_view, 1u);
    EXPECT_EQ(stats.sequencer_changes, 1u);
  }
  EXPECT_EQ(group.member(0).core->stats().messages_stamped, 600u) << "n0 stamped what came after the failover";
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, AFalselySuspectedSequencerRejoinsAsAParticipant) {
  Group group(FaultConfig{.drop = 0.01, .seed = 6}, reliable());
  group.send_interleaved(100);
  group.network.run_quiet(200ms);
  group.sequencer().cut_off = true;  // partitioned for longer than sequencer_timeout (50 ms), but alive
  group.network.advance(120ms);
  group.sequencer().cut_off = false;
  group.send_interleaved(300, 100);
  group.network.run_quiet(2s);
  const auto order = group.order_of(0);
  ASSERT_EQ(order.size(), 1200u);
  EXPECT_EQ(group.order_of(1), order);
  EXPECT_EQ(group.order_of(2), order);
  const Stats sequencer = group.sequencer().core->stats();
  EXPECT_EQ(sequencer.sequencer, "n0") << "it learnt the view that replaced it";
  EXPECT_EQ(sequencer.sequencer_view, 1u);
  EXPECT_EQ(sequencer.messages_stamped, 300u) << "it stamped only while it sequenced view 0";
  EXPECT_EQ(group.member(0).core->stats().messages_stamped, 900u);
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, ARestartedSequencerIsGivenUpOnNotTrusted) {
  Group group(FaultConfig{.drop = 0.01, .seed = 9}, reliable());
  group.send_interleaved(200);
  group.network.run_quiet(200ms);
  ASSERT_EQ(group.order_of(0).size(), 600u);
  // The process restarts at once under the same address: a new epoch, an empty log, view 0 —
  // it would stamp new messages from group sequence 0 again, below what the members delivered.
  core::ChannelCore::Config config{group.manifest, kSequencer, 0, 1234};
  config.capabilities = group.capabilities;
  config.dedicated_sequencer = true;
  config.now = group.network.now();
  group.sequencer().core = std::make_unique<core::ChannelCore>(config, group.sequencer());
  auto completions = group.send_interleaved(200, 200);
  group.network.run_quiet(3s);
  for (const auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
  const auto order = group.order_of(0);
  ASSERT_EQ(order.size(), 1200u);
  for (std::size_t k = 0; k < order.size(); ++k) ASSERT_EQ(order[k].first, k);
  EXPECT_EQ(group.order_of(1), order);
  EXPECT_EQ(group.order_of(2), order);
  for (int i = 0; i < 3; ++i) {
    const Stats stats = group.member(i).core->stats();
    EXPECT_GT(stats.stale_sequencer_packets, 0u) << "member " << i << " refused the new incarnation's stamps";
    EXPECT_GE(stats.sequencer_view, 1u);
    EXPECT_EQ(stats.sequencer, stats.sequencer_view % 4 == 0 ? std::string(kSequencer)
                                                             : "n" + std::to_string(stats.sequencer_view % 4 - 1));
  }
  const Stats restarted = group.sequencer().core->stats();
  EXPECT_EQ(restarted.sequencer_view, group.member(0).core->stats().sequencer_view) << "it was told the current view";
}

TEST(ChannelCoreTotalOrderDedicatedSequencer, BadSequencerNamesFailClearly) {
  Manifest manifest = SimNetwork::group_manifest(3, {.ordering = Ordering::total});
  struct Null : core::ChannelCore::Output {
    void transmit(const core::SocketAddress&, std::span<const std::byte>) override {}
    void deliver(Message&&) override {}
  } output;
  core::ChannelCore::Config config{manifest, "n0", 0, 1};
  config.capabilities = Capabilities{.source = "caps.yaml", .sequencer = "seq-host"};
  try {
    core::ChannelCore core(config, output);
    FAIL() << "a sequencer that is neither a member nor host:port must be refused";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("sequencer 'seq-host' is neither a member nor the host:port"), std::string::npos)
        << error.what();
  }
  core::ChannelCore::Config imposter{manifest, "10.0.0.8:7100", 0, 1};
  imposter.capabilities = Capabilities{.source = "caps.yaml", .sequencer = kSequencer};
  imposter.dedicated_sequencer = true;
  EXPECT_THROW(core::ChannelCore(imposter, output), std::invalid_argument) << "not the address the capabilities name";
  core::ChannelCore::Config sequencer{manifest, kSequencer, 0, 1};
  sequencer.capabilities = Capabilities{.source = "caps.yaml", .sequencer = kSequencer};
  sequencer.dedicated_sequencer = true;
  core::ChannelCore core(sequencer, output);
  const std::string payload = "x";
  EXPECT_THROW(core.send(std::as_bytes(std::span(payload)), {}, {}), std::invalid_argument) << "it sends no messages";
}

}  // namespace
}  // namespace tmc
