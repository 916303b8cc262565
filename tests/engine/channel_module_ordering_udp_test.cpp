// tmc::Channel over real UDP loopback with an ordering primitive from a module
// (tests/engine/modules/example_ordering.c, "reorder-window"): the engine's fault injector
// reorders (and drops) datagrams on the receivers' side; deliveries follow the module's policy —
// strictly ascending per sender, reordered messages put back in place within the window, what
// falls behind the window dropped and counted — where the built-in fifo, fed the same faults,
// drops every message that arrives late.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "tmc/channel.h"
#include "tmc/fault_injector.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

const char* const kModule = TMC_EXAMPLE_ORDERING_MODULE;

Manifest with_module_ordering(Manifest manifest, std::map<std::string, std::string> params) {
  manifest.ordering = Ordering::module;
  manifest.ordering_module = OrderingModule{.module = kModule, .name = "reorder-window", .params = std::move(params)};
  return manifest;
}

// A sender "a" and receivers on 127.0.0.1 ephemeral ports; receiver i gets manifests[i + 1]
// and faults[i].
struct Endpoints {
  std::vector<std::unique_ptr<Channel>> channels;
  Endpoints(const std::vector<Manifest>& manifests, const std::vector<std::shared_ptr<FaultInjector>>& faults) {
    const std::vector<std::string> names = {"a", "b", "c"};
    Multicast multicast;
    for (std::size_t i = 0; i < manifests.size(); ++i) multicast.members.push_back({names[i], ""});
    for (std::size_t i = 0; i < manifests.size(); ++i) {
      Manifest manifest = manifests[i];
      manifest.multicast = multicast;
      manifest.channel = "module-ordering-udp";
      ChannelOptions options{.self = names[i], .local_address = "127.0.0.1:0"};
      if (i > 0 && i - 1 < faults.size()) options.faults = faults[i - 1];
      channels.push_back(std::make_unique<Channel>(manifest, options));
    }
    for (auto& channel : channels)
      for (std::size_t i = 0; i < channels.size(); ++i)
        channel->add_member({names[i], "127.0.0.1:" + std::to_string(channels[i]->local_port())});
  }
};

int index_of(const Message& message) {
  return std::stoi(std::string(reinterpret_cast<const char*>(message.payload.data()), message.payload.size()));
}

// A receiver starts a sender's stream at the first packet it gets; what was sent before that
// packet is too old for it (Stats::duplicates_dropped), a property of stream start, not of the
// ordering. So the tests open the streams first: unordered "-1" messages until every receiver
// has one (bounded: 2 s).
void open_streams(Channel& sender, const std::vector<Channel*>& receivers) {
  std::vector<bool> opened(receivers.size(), false);
  const auto give_up = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < give_up &&
         std::find(opened.begin(), opened.end(), false) != opened.end()) {
    sender.send("-1", Manifest{.ordering = Ordering::none});
    for (std::size_t i = 0; i < receivers.size(); ++i)
      if (!opened[i] && receivers[i]->recv(5ms)) opened[i] = true;
  }
  for (std::size_t i = 0; i < receivers.size(); ++i) ASSERT_TRUE(opened[i]) << "receiver " << i << " got nothing";
}

// Receives until every index below `count` was delivered or dropped by the ordering
// (Stats::stale_dropped), or 10 s pass; while waiting the sender keeps sending trailer messages
// (index >= count) so the fault injector lets go of what it holds back. Trailers are sent
// unordered (ordering: none per message): they bypass the ordering, so stale_dropped counts
// only the messages under test. Returns the indices below `count` in delivery order.
std::vector<int> collect(Channel& sender, Channel& receiver, int count, int& next_trailer) {
  std::vector<int> delivered;
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (auto message = receiver.recv(2ms)) {
      const int index = index_of(*message);
      if (index >= 0 && index < count) delivered.push_back(index);
      continue;
    }
    if (delivered.size() + receiver.stats().stale_dropped >= std::size_t(count)) break;
    sender.send(std::to_string(next_trailer++), Manifest{.ordering = Ordering::none});
  }
  return delivered;
}

void expect_strictly_ascending(const std::vector<int>& delivered, const std::string& who) {
  for (std::size_t i = 1; i < delivered.size(); ++i)
    ASSERT_LT(delivered[i - 1], delivered[i]) << who << ": delivery " << i << " out of order";
}

TEST(ChannelModuleOrderingUdp, ReorderedMessagesAreDeliveredInSequenceWhereFifoDropsThem) {
  constexpr int kMessages = 2000;
  // The same seeded reordering in front of both receivers: b orders with the module (a window
  // wider than the injector's reorder depth), c with the built-in fifo.
  auto faults = [] { return std::make_shared<FaultInjector>(FaultConfig{.reorder = 0.1, .seed = 11, .reorder_depth = 4}); };
  std::vector<std::shared_ptr<FaultInjector>> injectors = {faults(), faults()};
  const Manifest module = with_module_ordering({}, {{"window", "64"}, {"max_hold_us", "20000"}});
  const Manifest fifo{.ordering = Ordering::fifo};
  Endpoints endpoints({module, module, fifo}, injectors);
  Channel& a = *endpoints.channels[0];
  open_streams(a, {endpoints.channels[1].get(), endpoints.channels[2].get()});
  for (int i = 0; i < kMessages; ++i) a.send(std::to_string(i));
  int trailer = kMessages;
  const std::vector<int> by_module = collect(a, *endpoints.channels[1], kMessages, trailer);
  const std::vector<int> by_fifo = collect(a, *endpoints.channels[2], kMessages, trailer);

  EXPECT_GT(injectors[0]->counters().reordered, 50u) << "the injector reordered";
  expect_strictly_ascending(by_module, "module");
  EXPECT_EQ(by_module.size(), std::size_t(kMessages)) << "every reordered message put back in place";
  EXPECT_EQ(endpoints.channels[1]->stats().stale_dropped, 0u);
  expect_strictly_ascending(by_fifo, "fifo");
  EXPECT_LT(by_fifo.size(), std::size_t(kMessages));
  EXPECT_GT(endpoints.channels[2]->stats().stale_dropped, 50u) << "built-in unreliable fifo drops what arrives late";
  EXPECT_EQ(by_fifo.size() + endpoints.channels[2]->stats().stale_dropped, std::size_t(kMessages));
  EXPECT_NE(a.plan().find("reorder-window (module " + std::string(kModule) + ")"), std::string::npos) << a.plan();
}

// A window narrower than the reordering: the module gives up gaps, drops what then arrives
// behind the delivered point (counted), and still never delivers out of order.
TEST(ChannelModuleOrderingUdp, ANarrowWindowDropsWhatFallsBehindAndCountsIt) {
  constexpr int kMessages = 2000;
  std::vector<std::shared_ptr<FaultInjector>> injectors = {
      std::make_shared<FaultInjector>(FaultConfig{.reorder = 0.2, .seed = 12, .reorder_depth = 6})};
  const Manifest module = with_module_ordering({}, {{"window", "1"}, {"max_hold_us", "20000"}});
  Endpoints endpoints({module, module}, injectors);
  Channel& a = *endpoints.channels[0];
  open_streams(a, {endpoints.channels[1].get()});
  for (int i = 0; i < kMessages; ++i) a.send(std::to_string(i));
  int trailer = kMessages;
  const std::vector<int> delivered = collect(a, *endpoints.channels[1], kMessages, trailer);
  expect_strictly_ascending(delivered, "module");
  const std::uint64_t dropped = endpoints.channels[1]->stats().stale_dropped;
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(delivered.size() + dropped, std::size_t(kMessages)) << "each message delivered or dropped, once";
}

// Loss without reordering: what follows a lost message is held, then released by the module's
// hold timer (2 ms) through the channel's timer -- nothing is left waiting for a message that
// never comes, and nothing is dropped.
TEST(ChannelModuleOrderingUdp, TheHoldTimerReleasesWhatWaitsBehindALoss) {
  constexpr int kMessages = 2000;
  std::vector<std::shared_ptr<FaultInjector>> injectors = {
      std::make_shared<FaultInjector>(FaultConfig{.drop = 0.05, .seed = 13})};
  const Manifest module = with_module_ordering({}, {{"window", "4096"}, {"max_hold_us", "2000"}});
  Endpoints endpoints({module, module}, injectors);
  Channel& a = *endpoints.channels[0];
  for (int i = 0; i < kMessages; ++i) a.send(std::to_string(i));
  Channel& b = *endpoints.channels[1];
  std::vector<int> delivered;
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (auto message = b.recv(5ms)) delivered.push_back(index_of(*message));
    if (injectors[0]->counters().seen == std::uint64_t(kMessages) &&
        delivered.size() + injectors[0]->counters().dropped == std::size_t(kMessages))
      break;
  }
  expect_strictly_ascending(delivered, "module");
  EXPECT_GT(injectors[0]->counters().dropped, 20u);
  EXPECT_EQ(injectors[0]->counters().seen, std::uint64_t(kMessages));
  EXPECT_EQ(delivered.size() + injectors[0]->counters().dropped, std::size_t(kMessages))
      << "every message that arrived was delivered, the ones behind a loss by the timer";
  EXPECT_EQ(b.stats().stale_dropped, 0u);
}

// Reliable: retransmissions fill the gaps; the module uses the cumulative point, so every
// message is delivered once, in send order, through loss and reordering.
TEST(ChannelModuleOrderingUdp, ReliableDeliveryInSequenceThroughLossAndReordering) {
  constexpr int kMessages = 2000;
  std::vector<std::shared_ptr<FaultInjector>> injectors = {
      std::make_shared<FaultInjector>(FaultConfig{.drop = 0.05, .reorder = 0.1, .seed = 14})};
  const Manifest module =
      with_module_ordering({.reliability = Reliability{.kind = Reliability::Kind::all}}, {{"window", "4096"}, {"max_hold_us", "0"}});
  Endpoints endpoints({module, module}, injectors);
  Channel& a = *endpoints.channels[0];
  std::vector<Completion> completions;
  for (int i = 0; i < kMessages; ++i) completions.push_back(a.send(std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(20s), SendStatus::delivered);
  std::vector<int> delivered;
  for (int i = 0; i < kMessages; ++i) {
    auto message = endpoints.channels[1]->recv(5s);
    ASSERT_TRUE(message) << i;
    delivered.push_back(index_of(*message));
  }
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(delivered[i], i);
  EXPECT_GT(a.stats().retransmissions, 0u);
  EXPECT_EQ(endpoints.channels[1]->stats().stale_dropped, 0u);
}

}  // namespace
}  // namespace tmc
