// ChannelCore with an ordering primitive from a module (tests/engine/modules/example_ordering.c,
// "reorder-window"), packet by packet on a mock clock: the module's verdicts decide delivery at
// the one ReceiveOrdering call site, its hold timer runs through next_timer() / on_timer(), late
// packets reach it, what it drops is counted; a sender with a module ordering marks its packets
// TMC_FLAG_ORDERED; the module's failure to create refuses the channel.
#include <gtest/gtest.h>

#include <cstring>

#include "core/channel_core.h"
#include "tmc/wire_format.h"
#include "wire/packet.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

struct Capture : ChannelCore::Output {
  std::vector<std::vector<std::byte>> sent;
  std::vector<Message> delivered;
  std::vector<Gap> gaps;
  void transmit(const SocketAddress&, std::span<const std::byte> packet) override { sent.emplace_back(packet.begin(), packet.end()); }
  void deliver(Message&& message) override { delivered.push_back(std::move(message)); }
  void gap(const Gap& gap) override { gaps.push_back(gap); }
};

Manifest manifest_with(std::map<std::string, std::string> params) {
  Manifest m;
  m.channel = "core-module-ordering";
  m.multicast = Multicast{.members = {{"a", "10.0.0.1:7000"}, {"b", "10.0.0.2:7000"}}};
  m.ordering = Ordering::module;
  m.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE, .name = "reorder-window", .params = std::move(params)};
  return m;
}

std::vector<std::string> texts(const std::vector<Message>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.emplace_back(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
  return out;
}
using Texts = std::vector<std::string>;

struct Pair {
  Capture a_out, b_out;
  ChannelCore a, b;
  SocketAddress from = *SocketAddress::parse("10.0.0.1:7000");
  explicit Pair(const Manifest& m)
      : a(ChannelCore::Config{m, "a", 0, 1}, a_out), b(ChannelCore::Config{m, "b", 0, 2}, b_out) {}
  void send(const std::string& text, TimePoint now) {
    a.send(std::as_bytes(std::span(text.data(), text.size())), {}, now);
  }
  void arrive(std::size_t packet, TimePoint now) {
    b.on_datagram(a_out.sent.at(packet), from, now);
    b.end_of_batch(now);
  }
};

TEST(ChannelCoreModuleOrdering, TheModuleOrdersDeliveryAndItsTimerRunsThroughTheCore) {
  Pair pair(manifest_with({{"window", "8"}, {"max_hold_us", "1000"}}));
  const TimePoint t0 = TimePoint{} + 1s;
  for (int i = 0; i < 6; ++i) pair.send("m" + std::to_string(i), t0);
  ASSERT_EQ(pair.a_out.sent.size(), 6u);
  wire::ParsedPacket parsed;
  ASSERT_EQ(wire::parse_packet(pair.a_out.sent[0], parsed), wire::ParseError::ok);
  EXPECT_EQ(parsed.common.flags, TMC_FLAG_ORDERED) << "sent like fifo";

  pair.arrive(0, t0);
  pair.arrive(2, t0 + 10us);  // m1 is missing: m2 and m3 wait for it
  pair.arrive(3, t0 + 20us);
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0"}));
  EXPECT_EQ(pair.b.next_timer(), t0 + 10us + 1ms) << "the module's hold timer, armed in the core";
  pair.b.on_timer(t0 + 500us);
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0"}));
  pair.b.on_timer(t0 + 10us + 1ms);  // m2 held 1 ms: the gap is given up, m3 follows
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0", "m2", "m3"}));
  EXPECT_EQ(pair.b.next_timer(), kNever);
  pair.arrive(1, t0 + 2ms);  // late, below the delivered point: the module drops it
  EXPECT_EQ(pair.b.stats().stale_dropped, 1u);
  pair.arrive(5, t0 + 2ms);
  pair.arrive(4, t0 + 2ms);  // late for the sender's forward point, in sequence for the module
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0", "m2", "m3", "m4", "m5"}));
  EXPECT_EQ(pair.b.stats().messages_delivered, 5u);
  EXPECT_EQ(pair.b.stats().stale_dropped, 1u);
}

TEST(ChannelCoreModuleOrdering, MessagesSentWithoutOrderingPassTheModule) {
  Pair pair(manifest_with({}));
  const TimePoint t0 = TimePoint{} + 1s;
  pair.send("m0", t0);
  pair.a.send(std::as_bytes(std::span("u1", 2)), Manifest{.ordering = Ordering::none}, t0);
  pair.send("m2", t0);
  pair.arrive(0, t0);
  pair.arrive(2, t0);  // m2 waits for sequence 1 ...
  pair.arrive(1, t0);  // ... which is the unordered u1: delivered on arrival, not the module's
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0", "u1"}));
  pair.b.on_timer(t0 + 6ms);  // default max_hold_us 5000
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0", "u1", "m2"}));
}

// An inbound stream keeps the ordering it was created with: after update() to fifo, a held
// message still comes out through the module's timer.
TEST(ChannelCoreModuleOrdering, StreamsKeepTheirModuleAcrossUpdate) {
  Pair pair(manifest_with({{"max_hold_us", "1000"}}));
  const TimePoint t0 = TimePoint{} + 1s;
  for (int i = 0; i < 3; ++i) pair.send("m" + std::to_string(i), t0);
  pair.arrive(0, t0);
  pair.arrive(2, t0);
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0"}));
  pair.b.update(Manifest{.ordering = Ordering::fifo});
  EXPECT_EQ(pair.b.next_timer(), t0 + 1ms);
  pair.b.on_timer(t0 + 1ms);
  EXPECT_EQ(texts(pair.b_out.delivered), (Texts{"m0", "m2"}));
}

TEST(ChannelCoreModuleOrdering, BadModuleParametersRefuseTheChannel) {
  Capture out;
  try {
    ChannelCore core(ChannelCore::Config{manifest_with({{"max_hold_us", "-1"}}), "a", 0, 1}, out);
    FAIL() << "accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()), std::string("ordering: ordering 'reorder-window' (module ") +
                                             TMC_EXAMPLE_ORDERING_MODULE +
                                             "): max_hold_us must be a whole number in 0..60000000, got '-1'");
  }
}

}  // namespace
}  // namespace tmc::core
