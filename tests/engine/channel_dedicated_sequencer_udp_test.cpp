// ordering: total through tmc::Channel with a DEDICATED sequencer (tmc::SequencerService, the
// capabilities file's `sequencer: "127.0.0.1:PORT"`, no member) over real UDP on loopback:
// three members each sending concurrently through the fault injector, the sequencer receiving
// through one too.
//   reliable:   every member delivers the identical sequence, every message once, in group order;
//               the dedicated sequencer stamped them;
//   unreliable: every group sequence is delivered or inside exactly one reported gap;
//   failover:   the sequencer is destroyed while the members send; they detect it, move to view
//               1 (sequenced by a, the lowest-named member) and still deliver identically.
// Every wait is bounded; the bounds are generous because ctest runs tests in parallel on 2 cores.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tmc/channel.h"
#include "tmc/fault_injector.h"
#include "tmc/sequencer_service.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

struct Delivered {
  std::uint64_t group_sequence;
  std::string text;  // "sender:index"
  bool operator==(const Delivered&) const = default;
};

struct Observer {
  std::mutex mutex;
  std::vector<Delivered> delivered;
  std::vector<Gap> gaps;
  std::size_t seen() {
    std::lock_guard lock(mutex);
    std::size_t total = delivered.size();
    for (const auto& gap : gaps) total += gap.count;
    return total;
  }
  std::vector<Delivered> snapshot() {
    std::lock_guard lock(mutex);
    return delivered;
  }
};

struct DedicatedGroup {
  std::shared_ptr<FaultInjector> sequencer_faults;
  std::unique_ptr<SequencerService> sequencer;
  std::vector<std::unique_ptr<Channel>> members;
  std::vector<std::unique_ptr<Observer>> observers;
  std::vector<std::shared_ptr<FaultInjector>> faults;

  DedicatedGroup(Manifest manifest, FaultConfig fault_config, Capabilities capabilities_base = {}) {
    const std::string group_address = manifest.multicast ? manifest.multicast->group : "";
    manifest.multicast = Multicast{.members = {{"a", ""}, {"b", ""}, {"c", ""}}};
    manifest.multicast->group = group_address;
    manifest.channel = "dedicated-sequencer-udp";
    manifest.ordering = Ordering::total;
    fault_config.seed = 99;
    sequencer_faults = std::make_shared<FaultInjector>(fault_config);
    sequencer = std::make_unique<SequencerService>(manifest, SequencerOptions{.listen = "127.0.0.1:0", .faults = sequencer_faults});
    capabilities_base.source = "caps.yaml";
    capabilities_base.sequencer = sequencer->name();
    auto capabilities = std::make_shared<Capabilities>(capabilities_base);
    for (std::size_t i = 0; i < 3; ++i) {
      fault_config.seed = 200 + i;
      faults.push_back(std::make_shared<FaultInjector>(fault_config));
      ChannelOptions options{.self = manifest.multicast->members[i].name, .local_address = "127.0.0.1:0",
                             .faults = faults.back(), .capabilities = capabilities};
      members.push_back(std::make_unique<Channel>(manifest, options));
      observers.push_back(std::make_unique<Observer>());
    }
    for (std::size_t i = 0; i < 3; ++i) {
      const Member member{manifest.multicast->members[i].name, "127.0.0.1:" + std::to_string(members[i]->local_port())};
      sequencer->add_member(member);
      for (auto& channel : members) channel->add_member(member);
    }
    for (std::size_t i = 0; i < 3; ++i) {
      Observer* observer = observers[i].get();
      members[i]->on_message([observer](Message message) {
        EXPECT_TRUE(message.group_sequence.has_value());
        std::lock_guard lock(observer->mutex);
        observer->delivered.push_back(
            {message.group_sequence.value_or(~0ull), std::string(reinterpret_cast<const char*>(message.payload.data()), message.payload.size())});
      });
      members[i]->on_gap([observer](const Gap& gap) {
        std::lock_guard lock(observer->mutex);
        observer->gaps.push_back(gap);
      });
    }
  }

  std::vector<std::thread> start_senders(int count) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < 3; ++i)
      threads.emplace_back([this, i, count] {
        const std::string name(1, static_cast<char>('a' + i));
        for (int k = 0; k < count; ++k) members[i]->send(name + ":" + std::to_string(k));
      });
    return threads;
  }

  // Until every member saw `expected` (delivered + gap messages), the counts stop moving for
  // `quiet`, or `limit` passes.
  void wait_for(std::size_t expected, Duration limit, Duration quiet = Duration::max()) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::vector<std::size_t> last(3, 0);
    auto last_change = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true, moved = false;
      for (std::size_t i = 0; i < 3; ++i) {
        const std::size_t seen = observers[i]->seen();
        all = all && seen >= expected;
        moved = moved || seen != last[i];
        last[i] = seen;
      }
      if (all) return;
      if (moved) last_change = std::chrono::steady_clock::now();
      else if (quiet != Duration::max() && std::chrono::steady_clock::now() - last_change > quiet) return;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string describe() {
    std::string text;
    if (sequencer) {
      const Stats stats = sequencer->stats();
      text += "sequencer " + sequencer->name() + ": stamped " + std::to_string(stats.messages_stamped) + ", view " +
              std::to_string(stats.sequencer_view) + " (" + stats.sequencer + ")\n";
    }
    for (std::size_t i = 0; i < 3; ++i) {
      const Stats stats = members[i]->stats();
      std::lock_guard lock(observers[i]->mutex);
      text += "member " + std::to_string(i) + ": delivered " + std::to_string(observers[i]->delivered.size()) + ", gaps " +
              std::to_string(observers[i]->gaps.size()) + ", view " + std::to_string(stats.sequencer_view) + " (" +
              stats.sequencer + "), changes " + std::to_string(stats.sequencer_changes) + ", stamped " +
              std::to_string(stats.messages_stamped) + ", retransmissions " + std::to_string(stats.retransmissions) + "\n";
    }
    return text;
  }
};

// Messages per sender: 3000; TMC_TEST_MESSAGES overrides.
int per_sender() {
  const char* value = std::getenv("TMC_TEST_MESSAGES");
  return value ? std::atoi(value) : 3000;
}

Manifest reliable_manifest() {
  // As in channel_total_order_udp_test: a 2 ms RTO floor and 256 packets in flight for three
  // senders sharing one runtime thread on a loaded machine.
  return {.reliability = Reliability{.kind = Reliability::Kind::all, .min_rto = 2ms, .initial_rto = 5ms, .window = 256,
                                     .member_timeout = 1s},
          .error_checking = ErrorChecking::crc32c};
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, ThePlanNamesTheDedicatedSequencer) {
  DedicatedGroup group(reliable_manifest(), FaultConfig{});
  const std::string plan = group.members[1]->plan();
  EXPECT_NE(plan.find("ordering: total (dedicated sequencer " + group.sequencer->name() +
                      ") -- sequencer declared in caps.yaml: not a member"),
            std::string::npos) << plan;
  EXPECT_NE(plan.find("failover order " + group.sequencer->name() + ", a, b, c"), std::string::npos) << plan;
  for (auto& channel : group.members) EXPECT_EQ(channel->stats().sequencer, group.sequencer->name());
  EXPECT_EQ(group.sequencer->stats().sequencer, group.sequencer->name());
  Manifest unordered = reliable_manifest();
  unordered.multicast = Multicast{.members = {{"a", ""}}};
  EXPECT_THROW(SequencerService(unordered, {.listen = "127.0.0.1:0"}), std::invalid_argument) << "ordering is not total";
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, ReliableEveryMemberDeliversTheIdenticalSequence) {
  const int kPerSender = per_sender();
  const std::size_t kTotal = 3 * kPerSender;
  DedicatedGroup group(reliable_manifest(), FaultConfig{.drop = 0.02, .duplicate = 0.01, .reorder = 0.02, .corrupt = 0.002});
  for (auto& thread : group.start_senders(kPerSender)) thread.join();
  group.wait_for(kTotal, 90s);
  SCOPED_TRACE(group.describe());

  std::vector<std::vector<Delivered>> sequences;
  for (auto& observer : group.observers) {
    std::lock_guard lock(observer->mutex);
    EXPECT_TRUE(observer->gaps.empty()) << "reliable total order never skips";
    sequences.push_back(observer->delivered);
  }
  for (std::size_t member = 0; member < 3; ++member) {
    ASSERT_EQ(sequences[member].size(), kTotal) << "member " << member;
    for (std::size_t k = 0; k < kTotal; ++k) ASSERT_EQ(sequences[member][k].group_sequence, k) << "member " << member;
  }
  EXPECT_EQ(sequences[0], sequences[1]);
  EXPECT_EQ(sequences[0], sequences[2]);
  std::set<std::string> unique;
  for (const auto& delivered : sequences[0]) unique.insert(delivered.text);
  EXPECT_EQ(unique.size(), kTotal) << "exactly once";

  // Who stamped: the dedicated sequencer, unless a loaded machine made the members depose it
  // (then the member that took over stamped the rest; the sequences agree either way).
  std::uint64_t stamped_by_members = 0, changes = 0;
  for (auto& channel : group.members) {
    const Stats stats = channel->stats();
    stamped_by_members += stats.messages_stamped;
    changes += stats.sequencer_changes;
  }
  const Stats sequencer = group.sequencer->stats();
  EXPECT_GT(sequencer.messages_stamped, 0u);
  EXPECT_GT(sequencer.acks_sent, 0u) << "reliable: it acknowledges what it receives";
  EXPECT_GT(sequencer.stamp_requests_answered, 0u) << "lost STAMPS were requested from it and answered";
  if (changes == 0) {
    EXPECT_EQ(sequencer.messages_stamped, kTotal);
    EXPECT_EQ(stamped_by_members, 0u);
  }
  EXPECT_GT(group.sequencer_faults->counters().dropped, 0u) << "the sequencer's input was lossy too";
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, UnreliableReportsEveryGapExactlyOnce) {
  const int kPerSender = per_sender();
  const std::size_t kTotal = 3 * kPerSender;
  DedicatedGroup group({}, FaultConfig{.drop = 0.02, .duplicate = 0.01, .reorder = 0.02});
  for (auto& thread : group.start_senders(kPerSender)) thread.join();
  group.wait_for(kTotal, 60s, 1s);
  SCOPED_TRACE(group.describe());

  std::map<std::uint64_t, std::string> agreed;
  std::uint64_t total_gaps = 0;
  for (std::size_t member = 0; member < 3; ++member) {
    Observer& observer = *group.observers[member];
    std::lock_guard lock(observer.mutex);
    std::map<std::uint64_t, int> covered;
    for (const auto& delivered : observer.delivered) ++covered[delivered.group_sequence];
    for (const auto& gap : observer.gaps) {
      EXPECT_EQ(gap.sender_id, 0u);
      EXPECT_GT(gap.count, 0u);
      for (std::uint64_t g = gap.first; g < gap.first + gap.count; ++g) ++covered[g];
    }
    std::uint64_t expect = 0;
    for (const auto& [group_sequence, times] : covered) {
      ASSERT_EQ(group_sequence, expect) << "member " << member << ": group sequence " << expect
                                        << " neither delivered nor reported as a gap";
      ASSERT_EQ(times, 1) << "member " << member << ": group sequence " << group_sequence << " covered twice";
      ++expect;
    }
    for (std::size_t k = 1; k < observer.delivered.size(); ++k)
      ASSERT_LT(observer.delivered[k - 1].group_sequence, observer.delivered[k].group_sequence);
    for (const auto& delivered : observer.delivered) {
      auto [it, fresh] = agreed.emplace(delivered.group_sequence, delivered.text);
      if (!fresh) ASSERT_EQ(it->second, delivered.text) << "group sequence " << delivered.group_sequence;
    }
    EXPECT_EQ(group.members[member]->stats().total_order_gaps, observer.gaps.size());
    total_gaps += observer.gaps.size();
  }
  EXPECT_GT(total_gaps, 0u) << "2% drop must lose some stamps or messages";
  EXPECT_GT(group.sequencer->stats().messages_stamped, kTotal * 9 / 10) << "most messages reached the sequencer";
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, DestroyingTheSequencerMidRunFailsOverToTheLowestNamedMember) {
  const int kPerSender = std::min(per_sender(), 2000);
  const std::size_t kTotal = 3 * kPerSender;
  DedicatedGroup group(reliable_manifest(), FaultConfig{.drop = 0.01, .reorder = 0.01});
  auto senders = group.start_senders(kPerSender);
  // Mid-run: once the members delivered a few hundred messages, the sequencer's process goes away.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (group.observers[0]->seen() < 300 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  const std::string old_name = group.sequencer->name();
  const std::uint64_t stamped_before = group.sequencer->stats().messages_stamped;
  group.sequencer.reset();
  for (auto& thread : senders) thread.join();
  group.wait_for(kTotal, 90s);
  SCOPED_TRACE(group.describe());
  EXPECT_LT(stamped_before, kTotal) << "the sequencer went away before everything was stamped";

  std::vector<std::vector<Delivered>> sequences;
  for (auto& observer : group.observers) sequences.push_back(observer->snapshot());
  ASSERT_EQ(sequences[0].size(), kTotal);
  for (std::size_t k = 0; k < kTotal; ++k) ASSERT_EQ(sequences[0][k].group_sequence, k);
  EXPECT_EQ(sequences[0], sequences[1]) << "a and b deliver the identical sequence across the view change";
  EXPECT_EQ(sequences[0], sequences[2]);
  std::set<std::string> unique;
  for (const auto& delivered : sequences[0]) unique.insert(delivered.text);
  EXPECT_EQ(unique.size(), kTotal) << "exactly once";

  std::uint64_t stamped_by_members = 0;
  std::vector<Stats> stats;
  for (auto& channel : group.members) stats.push_back(channel->stats());
  for (const Stats& s : stats) {
    EXPECT_GE(s.sequencer_changes, 1u) << "the failure was reported";
    EXPECT_NE(s.sequencer, old_name);
    EXPECT_EQ(s.sequencer, stats[0].sequencer);
    EXPECT_EQ(s.sequencer_view, stats[0].sequencer_view);
    stamped_by_members += s.messages_stamped;
  }
  // Deterministic: view v is sequenced by candidates[v % 4] = (sequencer, a, b, c): normally view 1, a.
  const char* candidates[] = {"", "a", "b", "c"};
  ASSERT_NE(stats[0].sequencer_view % 4, 0u);
  EXPECT_EQ(stats[0].sequencer, candidates[stats[0].sequencer_view % 4]);
  EXPECT_GT(stamped_by_members, 0u) << "a member stamped the rest";
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, ASequencerRestartedAtTheSameAddressIsNotTrusted) {
  DedicatedGroup group(reliable_manifest(), FaultConfig{.drop = 0.01});
  constexpr int kFirst = 500;
  for (auto& thread : group.start_senders(kFirst)) thread.join();
  group.wait_for(3 * kFirst, 30s);
  ASSERT_EQ(group.observers[0]->seen(), 3u * kFirst) << group.describe();
  // The process restarts under the same address: a new epoch and an empty log, view 0.
  const std::string name = group.sequencer->name();
  Manifest manifest = reliable_manifest();
  manifest.multicast = Multicast{.members = {{"a", ""}, {"b", ""}, {"c", ""}}};
  manifest.channel = "dedicated-sequencer-udp";
  manifest.ordering = Ordering::total;
  group.sequencer.reset();
  group.sequencer = std::make_unique<SequencerService>(manifest, SequencerOptions{.listen = name});
  ASSERT_EQ(group.sequencer->name(), name);
  for (std::size_t i = 0; i < 3; ++i)
    group.sequencer->add_member({std::string(1, char('a' + i)), "127.0.0.1:" + std::to_string(group.members[i]->local_port())});
  // More messages: numbered from kFirst so they differ from the first batch.
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 3; ++i)
    threads.emplace_back([&group, i] {
      for (int k = kFirst; k < 2 * kFirst; ++k) group.members[i]->send(std::string(1, char('a' + i)) + ":" + std::to_string(k));
    });
  for (auto& thread : threads) thread.join();
  group.wait_for(6 * kFirst, 60s);
  SCOPED_TRACE(group.describe());
  const auto order = group.observers[0]->snapshot();
  ASSERT_EQ(order.size(), 6u * kFirst);
  for (std::size_t k = 0; k < order.size(); ++k) ASSERT_EQ(order[k].group_sequence, k);
  EXPECT_EQ(group.observers[1]->snapshot(), order);
  EXPECT_EQ(group.observers[2]->snapshot(), order);
  std::uint64_t refused = 0;
  for (auto& channel : group.members) {
    const Stats stats = channel->stats();
    refused += stats.stale_sequencer_packets;
    EXPECT_GE(stats.sequencer_view, 1u) << "the restarted incarnation does not keep view 0";
  }
  EXPECT_GT(refused, 0u) << "the new incarnation's view-0 packets were refused";
}

// IP multicast needs a multicast-capable interface and a route: a private network namespace of
// this test's own process (ctest runs each test separately) gives both without touching the host.
bool enter_private_network_namespace(std::string& why) {
  if (geteuid() != 0) {
    why = "needs root to create a network namespace";
    return false;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    why = std::string("unshare(CLONE_NEWNET) failed: ") + strerror(errno);
    return false;
  }
  if (std::system("ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo") != 0) {
    why = "could not configure lo in the private namespace (iproute2 missing?)";
    return false;
  }
  return true;
}

TEST(ChannelTotalOrderDedicatedSequencerUdp, WithIpMulticastTheSequencerGetsAUnicastCopy) {
  std::string why;
  if (!enter_private_network_namespace(why)) GTEST_SKIP() << why;
  Manifest manifest = reliable_manifest();
  manifest.multicast = Multicast{.group = "239.255.7.9:47011"};
  HostCapabilities everywhere;
  everywhere.ip_multicast = true;
  DedicatedGroup group(manifest, FaultConfig{.drop = 0.01}, Capabilities{.defaults = everywhere});
  ASSERT_NE(group.members[0]->plan().find("multicast: ip-multicast 239.255.7.9:47011"), std::string::npos)
      << group.members[0]->plan();
  constexpr int kPerSender = 500;
  for (auto& thread : group.start_senders(kPerSender)) thread.join();
  group.wait_for(3 * kPerSender, 60s);
  SCOPED_TRACE(group.describe());
  const auto order = group.observers[0]->snapshot();
  ASSERT_EQ(order.size(), 3u * kPerSender);
  EXPECT_EQ(group.observers[1]->snapshot(), order);
  EXPECT_EQ(group.observers[2]->snapshot(), order);
  EXPECT_GT(group.sequencer->stats().messages_stamped, 0u) << "the multicast members' messages reached it";
  // It got each packet's first copy, not only retransmissions: those stay a few per cent (1%
  // drop at each of 4 receivers), far below one per message.
  std::uint64_t retransmissions = 0;
  for (auto& channel : group.members) retransmissions += channel->stats().retransmissions;
  EXPECT_LT(retransmissions, std::uint64_t(kPerSender)) << "the sequencer was reached by retransmissions only";
}

}  // namespace
}  // namespace tmc
