// Channel core over the simulated network: property tests (100k messages through loss,
// duplication and reordering) and quorum completion.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "sim_network.h"
#include "wire/crc32c.h"

namespace tmc::test {
namespace {

using namespace std::chrono_literals;

// Payload: u64 counter, then filler derived from it, then a CRC32C of the rest, so a receiver
// can tell a corrupted payload from a good one without trusting the transport.
std::vector<std::byte> make_payload(std::uint64_t counter, std::size_t size = 32) {
  std::vector<std::byte> payload(std::max<std::size_t>(size, 12));
  std::memcpy(payload.data(), &counter, 8);
  for (std::size_t i = 8; i + 4 < payload.size(); ++i) payload[i] = std::byte((counter * 31 + i) & 0xFF);
  const std::uint32_t crc = wire::crc32c(payload.data(), payload.size() - 4);
  std::memcpy(payload.data() + payload.size() - 4, &crc, 4);
  return payload;
}
bool payload_intact(const std::vector<std::byte>& payload) {
  if (payload.size() < 12) return false;
  std::uint32_t crc;
  std::memcpy(&crc, payload.data() + payload.size() - 4, 4);
  return crc == wire::crc32c(payload.data(), payload.size() - 4);
}
std::uint64_t counter_of(const std::vector<std::byte>& payload) {
  std::uint64_t counter;
  std::memcpy(&counter, payload.data(), 8);
  return counter;
}

struct Mode {
  const char* name;
  Ordering ordering;
  bool reliable;
};

struct PropertyCase {
  Mode mode;
  double loss;
};

class ChannelCoreProperty : public ::testing::TestWithParam<PropertyCase> {};

constexpr std::uint64_t kMessages = 100000;

TEST_P(ChannelCoreProperty, DeliveryGuaranteesHoldUnderFaults) {
  const auto [mode, loss] = GetParam();
  FaultConfig faults{.drop = loss, .duplicate = 0.02, .reorder = 0.05, .corrupt = mode.reliable ? 0.0 : 0.01,
                     .seed = 42, .reorder_depth = 6};
  SimNetwork network(faults);
  Manifest base{.ordering = mode.ordering, .error_checking = ErrorChecking::crc32c};
  if (mode.reliable) base.reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 10s};
  const Manifest manifest = SimNetwork::group_manifest(2, base);
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);

  std::vector<Completion> completions;
  completions.reserve(kMessages);
  // Send in bursts so the simulation interleaves sending with acknowledgements.
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    completions.push_back(sender.core->send(make_payload(i), {}, network.now()));
    if (i % 512 == 511) network.advance(100us);
  }
  for (int round = 0; round < 20000 && sender.core->pending_sends() > 0; ++round) network.advance(1ms);
  network.flush_reordered();
  network.advance(10ms);

  std::set<std::uint64_t> seen;
  std::uint64_t previous = 0;
  bool first = true;
  std::uint64_t out_of_order = 0;
  for (const auto& message : receiver.delivered) {
    ASSERT_TRUE(payload_intact(message.payload)) << "corrupted payload delivered";
    const std::uint64_t counter = counter_of(message.payload);
    ASSERT_TRUE(seen.insert(counter).second) << "duplicate delivery of " << counter;
    if (!first && counter < previous) ++out_of_order;
    previous = counter;
    first = false;
  }
  if (mode.reliable) {
    EXPECT_EQ(seen.size(), kMessages) << "reliable: every message exactly once";
    for (const auto& completion : completions) ASSERT_EQ(completion.status(), SendStatus::delivered);
  } else {
    EXPECT_LE(seen.size(), kMessages);
    if (loss == 0 && faults.corrupt == 0) EXPECT_EQ(seen.size(), kMessages);
    for (const auto& completion : completions) ASSERT_EQ(completion.status(), SendStatus::delivered);
  }
  if (mode.ordering != Ordering::none) EXPECT_EQ(out_of_order, 0u) << "ordered delivery went backwards";
  if (loss > 0 && mode.reliable) EXPECT_GT(sender.core->stats().retransmissions, 0u);
  if (!mode.reliable && loss > 0) EXPECT_LT(seen.size(), kMessages);
}

std::vector<PropertyCase> property_cases() {
  const Mode modes[] = {{"reliable_fifo", Ordering::fifo, true},
                        {"reliable_none", Ordering::none, true},
                        {"unreliable_none", Ordering::none, false},
                        {"unreliable_fifo_drop_stale", Ordering::fifo_drop_stale, false}};
  std::vector<PropertyCase> cases;
  for (const auto& mode : modes)
    for (double loss : {0.0, 0.01, 0.10, 0.30}) cases.push_back({mode, loss});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Faults, ChannelCoreProperty, ::testing::ValuesIn(property_cases()),
                         [](const auto& info) {
                           return std::string(info.param.mode.name) + "_loss" +
                                  std::to_string(static_cast<int>(info.param.loss * 100));
                         });

TEST(ChannelCore, UnreliableCorruptionIsCaughtByCrc32c) {
  SimNetwork network(FaultConfig{.corrupt = 0.2, .seed = 7});
  const Manifest manifest = SimNetwork::group_manifest(2, {.error_checking = ErrorChecking::crc32c});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  for (std::uint64_t i = 0; i < 5000; ++i) sender.core->send(make_payload(i, 200), {}, network.now());
  network.advance(10ms);
  for (const auto& message : receiver.delivered) ASSERT_TRUE(payload_intact(message.payload));
  EXPECT_GT(receiver.core->stats().checksum_failures, 500u);
  EXPECT_LT(receiver.delivered.size(), 5000u);
}

TEST(ChannelCore, LargeMessagesAreFragmentedAndReassembled) {
  SimNetwork network(FaultConfig{.drop = 0.05, .reorder = 0.05, .seed = 3});
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all}});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  std::vector<std::size_t> sizes = {0, 1, 1413, 1414, 1415, 100000, 16u << 20};
  std::vector<Completion> completions;
  for (std::size_t i = 0; i < sizes.size(); ++i) completions.push_back(sender.core->send(make_payload(i, sizes[i]), {}, network.now()));
  for (int round = 0; round < 5000 && sender.core->pending_sends() > 0; ++round) network.advance(1ms);
  ASSERT_EQ(receiver.delivered.size(), sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(counter_of(receiver.delivered[i].payload), i);
    EXPECT_EQ(receiver.delivered[i].payload.size(), std::max<std::size_t>(sizes[i], 12));
    EXPECT_TRUE(payload_intact(receiver.delivered[i].payload));
    EXPECT_EQ(completions[i].status(), SendStatus::delivered);
  }
}

Manifest quorum_manifest(Reliability reliability) {
  reliability.member_timeout = 50ms;
  return SimNetwork::group_manifest(4, {.ordering = Ordering::fifo, .reliability = reliability});
}

TEST(ChannelCore, FractionQuorumCompletesWithOneMemberDown) {
  SimNetwork network;
  const Manifest manifest = quorum_manifest({.kind = Reliability::Kind::fraction, .fraction = 0.67});
  auto& sender = network.add_node(manifest, "n0", 1);
  network.add_node(manifest, "n1", 2);
  network.add_node(manifest, "n2", 3);
  auto& third = network.add_node(manifest, "n3", 4);
  third.down = true;
  std::vector<Completion> completions;
  for (int i = 0; i < 100; ++i) completions.push_back(sender.core->send(make_payload(i), {}, network.now()));
  network.advance(1ms);  // far less than the member timeout
  for (const auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(network.node(1).delivered.size(), 100u);
  EXPECT_EQ(network.node(2).delivered.size(), 100u);
  EXPECT_TRUE(third.delivered.empty());
}

TEST(ChannelCore, FractionQuorumWaitsForTheSecondAck) {
  SimNetwork network;
  const Manifest manifest = quorum_manifest({.kind = Reliability::Kind::fraction, .fraction = 0.67});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& n1 = network.add_node(manifest, "n1", 2);
  auto& n2 = network.add_node(manifest, "n2", 3);
  network.add_node(manifest, "n3", 4);
  n1.down = true;
  n2.down = true;
  Completion completion = sender.core->send(make_payload(1), {}, network.now());
  network.advance(2ms);
  EXPECT_EQ(completion.status(), SendStatus::pending) << "one ack of the two needed";
  n2.down = false;
  network.advance(5ms);  // retransmission reaches n2
  EXPECT_EQ(completion.status(), SendStatus::delivered);
}

TEST(ChannelCore, NamedSubsetWaitsForExactlyThoseMembers) {
  SimNetwork network;
  const Manifest manifest = quorum_manifest({.kind = Reliability::Kind::subset, .names = {"n1", "n3"}});
  auto& sender = network.add_node(manifest, "n0", 1);
  network.add_node(manifest, "n1", 2);
  auto& n2 = network.add_node(manifest, "n2", 3);
  auto& n3 = network.add_node(manifest, "n3", 4);
  n3.down = true;
  Completion first = sender.core->send(make_payload(1), {}, network.now());
  network.advance(3ms);
  EXPECT_EQ(first.status(), SendStatus::pending) << "n1 and n2 acked, n3 has not";
  n3.down = false;
  network.advance(10ms);
  EXPECT_EQ(first.status(), SendStatus::delivered);

  n2.down = true;  // not in the subset: must not matter
  Completion second = sender.core->send(make_payload(2), {}, network.now());
  network.advance(1ms);
  EXPECT_EQ(second.status(), SendStatus::delivered);
}

TEST(ChannelCore, AllFailsWhenAMemberStaysDown) {
  SimNetwork network;
  const Manifest manifest = quorum_manifest({.kind = Reliability::Kind::all});
  auto& sender = network.add_node(manifest, "n0", 1);
  network.add_node(manifest, "n1", 2);
  network.add_node(manifest, "n2", 3);
  auto& n3 = network.add_node(manifest, "n3", 4);
  n3.down = true;
  Completion completion = sender.core->send(make_payload(1), {}, network.now());
  network.advance(20ms);
  EXPECT_EQ(completion.status(), SendStatus::pending);
  network.advance(100ms);  // past the 50 ms member timeout
  EXPECT_EQ(completion.status(), SendStatus::failed);
  // The member comes back: its first ack revives it and later sends complete again.
  n3.down = false;
  Completion later = sender.core->send(make_payload(2), {}, network.now());
  network.advance(5ms);
  // n3 was down at send time, so `all` cannot be met for this message...
  EXPECT_EQ(later.status(), SendStatus::failed);
  network.advance(5ms);
  Completion after_revival = sender.core->send(make_payload(3), {}, network.now());
  network.advance(5ms);
  // ...but its ack of message 2 revived it, so message 3 completes.
  EXPECT_EQ(after_revival.status(), SendStatus::delivered);
}

// RFC 9002 6.2: with a silent receiver the sender does not retransmit its window on every
// timeout. Each probe timeout sends two probes and doubles the timeout (1, 2, 4, 8 ms from the
// 1 ms initial RTO, at most RttEstimator::kMaxBackoffs doublings); nothing is declared lost.
TEST(ChannelCore, ProbeTimeoutsSendTwoProbesAndBackOff) {
  SimNetwork network;
  Manifest base{.ordering = Ordering::fifo};
  // max_ack_delay 0: the probe timeout is the bare RTO (the delay's share: DelayedAck tests).
  base.reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 10s, .max_ack_delay = 0us};
  const Manifest manifest = SimNetwork::group_manifest(2, base);
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  receiver.down = true;
  std::vector<Completion> completions;
  for (int i = 0; i < 10; ++i) completions.push_back(sender.core->send(make_payload(i), {}, network.now()));
  network.advance(900us);
  EXPECT_EQ(sender.core->stats().timeouts, 0u);
  network.advance(200us);  // PTO at 1 ms
  EXPECT_EQ(sender.core->stats().timeouts, 1u);
  EXPECT_EQ(sender.core->stats().probes, 2u);
  network.advance(1800us);  // 2.9 ms: the next PTO is due at 3 ms
  EXPECT_EQ(sender.core->stats().timeouts, 1u);
  network.advance(200us);
  EXPECT_EQ(sender.core->stats().timeouts, 2u);
  network.advance(3800us);  // 6.9 ms
  EXPECT_EQ(sender.core->stats().timeouts, 2u);
  network.advance(200us);  // 7.1 ms
  EXPECT_EQ(sender.core->stats().timeouts, 3u);
  network.advance(8ms);  // 15.1 ms: PTO at 15 ms
  EXPECT_EQ(sender.core->stats().timeouts, 4u);
  network.advance(8ms);  // 23.1 ms: backoff capped at 8 ms, PTO at 23 ms
  EXPECT_EQ(sender.core->stats().timeouts, 5u);
  const Stats stats = sender.core->stats();
  EXPECT_EQ(stats.probes, 10u) << "two probes per timeout";
  EXPECT_EQ(stats.retransmissions, stats.probes) << "no loss declared without acknowledgements";
  // The receiver returns: the probes' acks restart the flow and everything completes.
  receiver.down = false;
  network.advance(20ms);
  for (const auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(receiver.delivered.size(), 10u);
}

TEST(ChannelCore, DeadlineExpiresUnackedMessage) {
  SimNetwork network;
  const Manifest manifest = quorum_manifest({.kind = Reliability::Kind::all});
  auto& sender = network.add_node(manifest, "n0", 1);
  network.add_node(manifest, "n1", 2);
  network.add_node(manifest, "n2", 3);
  auto& n3 = network.add_node(manifest, "n3", 4);
  n3.down = true;
  Completion completion = sender.core->send(make_payload(1), {.deadline = 5ms}, network.now());
  network.advance(10ms);
  EXPECT_EQ(completion.status(), SendStatus::expired);
}

TEST(ChannelCore, PerMessageManifestOverridesChannelDefaults) {
  SimNetwork network(FaultConfig{.drop = 0.5, .seed = 11});
  const Manifest manifest = SimNetwork::group_manifest(2, {.ordering = Ordering::none});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  const Manifest reliable{.reliability = Reliability{.kind = Reliability::Kind::all}};
  std::vector<Completion> completions;
  for (int i = 0; i < 200; ++i) completions.push_back(sender.core->send(make_payload(i), i % 2 ? reliable : Manifest{}, network.now()));
  network.advance(200ms);
  std::set<std::uint64_t> odd_seen;
  for (const auto& message : receiver.delivered)
    if (counter_of(message.payload) % 2) odd_seen.insert(counter_of(message.payload));
  EXPECT_EQ(odd_seen.size(), 100u) << "every reliable (odd) message arrives despite 50% loss";
  EXPECT_LT(receiver.delivered.size(), 200u) << "unreliable (even) ones are lost at 50%";
}

TEST(ChannelCore, UpdateChangesDefaultsForLaterMessages) {
  SimNetwork network;
  const Manifest manifest = SimNetwork::group_manifest(2);
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  sender.core->send(make_payload(1), {}, network.now());
  network.advance(1ms);
  EXPECT_EQ(receiver.core->stats().checksum_failures, 0u);
  ASSERT_EQ(sender.piece_transmits.size(), 1u);
  EXPECT_FALSE(sender.piece_transmits[0].flags & TMC_FLAG_CHECKSUM);
  sender.core->update({.error_checking = ErrorChecking::crc32c});
  EXPECT_EQ(sender.core->manifest().error_checking, ErrorChecking::crc32c);
  EXPECT_NE(sender.core->plan().find("crc32c"), std::string::npos);
  sender.core->send(make_payload(2), {}, network.now());
  network.advance(1ms);
  EXPECT_EQ(receiver.delivered.size(), 2u);
  ASSERT_EQ(sender.piece_transmits.size(), 2u);
  EXPECT_TRUE(sender.piece_transmits[1].flags & TMC_FLAG_CHECKSUM) << "the later message uses the updated defaults";
}

TEST(ChannelCore, TargetsSubsetAndFraction) {
  SimNetwork network;
  const Manifest manifest = SimNetwork::group_manifest(4);
  auto& sender = network.add_node(manifest, "n0", 1);
  for (int i = 1; i < 4; ++i) network.add_node(manifest, "n" + std::to_string(i), 1 + i);
  sender.core->send(make_payload(1), {.targets = Targets{.kind = Targets::Kind::subset, .names = {"n2"}}}, network.now());
  network.advance(1ms);
  EXPECT_EQ(network.node(1).delivered.size(), 0u);
  EXPECT_EQ(network.node(2).delivered.size(), 1u);
  EXPECT_EQ(network.node(3).delivered.size(), 0u);
  for (int i = 0; i < 30; ++i)
    sender.core->send(make_payload(2), {.targets = Targets{.kind = Targets::Kind::fraction, .fraction = 0.34}}, network.now());
  network.advance(1ms);
  // 30 messages to one member each, rotating: 10 apiece.
  EXPECT_EQ(network.node(1).delivered.size(), 10u);
  EXPECT_EQ(network.node(2).delivered.size(), 11u);
  EXPECT_EQ(network.node(3).delivered.size(), 10u);
}

TEST(ChannelCore, UnsupportedFeaturesFailClearly) {
  SimNetwork network;
  const Manifest manifest = SimNetwork::group_manifest(2);
  auto& sender = network.add_node(manifest, "n0", 1);
  EXPECT_THROW(sender.core->send(make_payload(1), {.targets = Targets{.kind = Targets::Kind::subset, .names = {"nobody"}}},
                                 network.now()),
               std::invalid_argument);
  EXPECT_THROW(sender.core->update({.congestion_control = CongestionControl{.algorithm = "warp-drive"}}),
               std::invalid_argument);
}

TEST(ChannelCore, MalformedPacketsAreCountedAndDropped) {
  SimNetwork network;
  const Manifest manifest = SimNetwork::group_manifest(2);
  auto& receiver = network.add_node(manifest, "n1", 2);
  const auto from = *core::SocketAddress::parse("10.0.0.9:1");
  std::vector<std::byte> junk(100, std::byte{0x54});
  receiver.core->on_datagram(junk, from, network.now());
  receiver.core->on_datagram({}, from, network.now());
  EXPECT_EQ(receiver.core->stats().malformed_dropped, 2u);
  EXPECT_TRUE(receiver.delivered.empty());
}

}  // namespace
}  // namespace tmc::test

namespace tmc::test {
namespace {

using namespace std::chrono_literals;

TEST(ChannelCorePathControl, PacingLimitsTheSendRate) {
  SimNetwork network;
  // 1 MB/s with a 10 KB burst: 1000-byte messages leave at about one per millisecond.
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.pacing = Pacing{.rate_bytes_per_second = 1e6, .burst_bytes = 10000}});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  for (int i = 0; i < 300; ++i) sender.core->send(std::vector<std::byte>(1000), {}, network.now());
  network.advance(50ms);
  // burst (~9 packets of 1056 B) + 50 ms at 1 MB/s (~47 packets)
  EXPECT_GT(receiver.delivered.size(), 40u);
  EXPECT_LT(receiver.delivered.size(), 75u);
  network.advance(500ms);
  EXPECT_EQ(receiver.delivered.size(), 300u);
  EXPECT_NE(sender.core->plan().find("pacing: token bucket"), std::string::npos);
}

TEST(ChannelCorePathControl, FixedWindowBoundsPacketsInFlight) {
  SimNetwork network(FaultConfig{}, 1ms);  // 2 ms round trips make the window the limit
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.reliability = Reliability{.kind = Reliability::Kind::all},
          .congestion_control = CongestionControl{.algorithm = "fixed-window", .params = {{"window_bytes", "10000"}}}});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  for (int i = 0; i < 200; ++i) sender.core->send(std::vector<std::byte>(900), {}, network.now());
  network.advance(10ms);  // about 5 round trips of at most 10 packets (956 B each)
  EXPECT_GT(receiver.delivered.size(), 20u);
  EXPECT_LE(receiver.delivered.size(), 60u);
  for (int i = 0; i < 200 && sender.core->pending_sends(); ++i) network.advance(1ms);
  EXPECT_EQ(receiver.delivered.size(), 200u);
  EXPECT_NE(sender.core->plan().find("congestion control: fixed-window"), std::string::npos);
}

// Probes are not new bytes in flight: the acknowledgement that clears a probed packet clears
// both copies. Were each probe counted, the window below (10 packets) would be used up by
// 12 probes' bytes and the sender would stall for good after the receiver's outage.
TEST(ChannelCorePathControl, ProbesDoNotLeakIntoBytesInFlight) {
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 10s},
          .congestion_control = CongestionControl{.algorithm = "fixed-window", .params = {{"window_bytes", "10000"}}}});
  SimNetwork network;
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  for (int outage = 0; outage < 3; ++outage) {
    receiver.down = true;
    for (int i = 0; i < 5; ++i) sender.core->send(std::vector<std::byte>(900), {}, network.now());
    network.advance(20ms);  // several probe timeouts, two probes each
    receiver.down = false;
    network.advance(30ms);
  }
  EXPECT_GE(sender.core->stats().probes, 12u);
  for (int i = 0; i < 100; ++i) sender.core->send(std::vector<std::byte>(900), {}, network.now());
  for (int i = 0; i < 200 && sender.core->pending_sends(); ++i) network.advance(1ms);
  EXPECT_EQ(receiver.delivered.size(), 115u);
  EXPECT_EQ(sender.core->pending_sends(), 0u);
}

TEST(ChannelCorePathControl, UnknownAlgorithmOrModuleFailsTheManifest) {
  SimNetwork network;
  try {
    network.add_node(SimNetwork::group_manifest(2, {.congestion_control = CongestionControl{.algorithm = "cubic-ish"}}),
                     "n0", 1);
    FAIL() << "unknown algorithm accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("aimd"), std::string::npos) << error.what();  // lists the known ones
  }
  EXPECT_THROW(network.add_node(SimNetwork::group_manifest(2, {.congestion_control = CongestionControl{
                                                                   .algorithm = "x", .module = "/nonexistent/libx.so"}}),
                                "n0", 1),
               std::invalid_argument);
}


// Delayed acknowledgements (reliability.max_ack_delay, RFC 9000 13.2.1), on the mock clock:
// two members 20 us apart, reliable fifo, a 200 us delay and a 1 ms initial RTO.
Manifest delayed_ack_manifest(core::Duration max_ack_delay) {
  Manifest base{.ordering = Ordering::fifo};
  base.reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 10s, .max_ack_delay = max_ack_delay};
  return SimNetwork::group_manifest(2, base);
}

TEST(ChannelCoreDelayedAck, AnInOrderAckLeavesWithinMaxAckDelay) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  Completion completion = sender.core->send(make_payload(1), {}, network.now());
  network.advance(21us);  // arrived at 20 us and delivered at once; the ack waits
  ASSERT_EQ(receiver.delivered.size(), 1u);
  EXPECT_EQ(receiver.core->stats().acks_sent, 0u);
  EXPECT_EQ(receiver.core->next_timer(), start + 20us + 200us) << "the ack's deadline is armed";
  network.run_until(start + 219us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 0u);
  network.run_until(start + 220us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 1u) << "sent at max_ack_delay";
  network.run_until(start + 240us);
  EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(sender.core->stats().retransmissions, 0u) << "the probe timeout allows for the delay";
  EXPECT_EQ(sender.core->next_timer(), core::kNever) << "nothing in flight: no idle timer wake-up";
  EXPECT_EQ(receiver.core->next_timer(), core::kNever);
}

TEST(ChannelCoreDelayedAck, AReplyCarriesTheAckOfItsRequest) {
  SimNetwork network;
  auto& client = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& server = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  Completion request = client.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 50us);  // the server application answers 30 us after delivery
  ASSERT_EQ(server.delivered.size(), 1u);
  const std::uint64_t packets_before = network.packets();
  Completion reply = server.core->send(make_payload(2), {}, network.now());
  EXPECT_EQ(server.core->stats().acks_sent, 1u) << "the pending ack left with the reply";
  EXPECT_EQ(network.packets() - packets_before, 2u) << "ack + reply, one transmit batch";
  network.run_until(start + 71us);
  EXPECT_EQ(request.status(), SendStatus::delivered) << "completed by the ack that came with the reply";
  ASSERT_EQ(client.delivered.size(), 1u);
  EXPECT_EQ(client.core->stats().acks_sent, 0u) << "the client's ack of the reply waits for its next request";
  client.core->send(make_payload(3), {}, network.now());
  EXPECT_EQ(client.core->stats().acks_sent, 1u);
  network.run_until(start + 1ms);
  EXPECT_EQ(reply.status(), SendStatus::delivered);
  EXPECT_EQ(client.core->stats().retransmissions + server.core->stats().retransmissions, 0u);
}

TEST(ChannelCoreDelayedAck, AGapIsAcknowledgedAtOnceSoRecoveryStaysFast) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  receiver.down = true;  // the first packet is lost
  Completion lost = sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 21us);  // dropped on arrival at 20 us
  receiver.down = false;
  Completion after = sender.core->send(make_payload(2), {}, network.now());
  network.run_until(start + 42us);  // the second arrived at 41 us, out of order
  EXPECT_EQ(receiver.core->stats().acks_sent, 1u) << "a gap is acknowledged at the end of its receive batch, not after max_ack_delay";
  // The ack reports the gap; the sender's loss detection (time threshold, floored at min_rto)
  // resends the first packet well before the probe timeout (1 ms + 200 us), and the
  // retransmission that fills the gap is acknowledged at once too.
  network.run_until(start + 1ms);
  EXPECT_EQ(lost.status(), SendStatus::delivered);
  EXPECT_EQ(after.status(), SendStatus::delivered);
  EXPECT_EQ(sender.core->stats().timeouts, 0u) << "recovered by the gap's ack, not by a timeout";
  EXPECT_GE(receiver.core->stats().acks_sent, 2u);
  ASSERT_EQ(receiver.delivered.size(), 2u);
  EXPECT_EQ(counter_of(receiver.delivered[0].payload), 1u);
}

TEST(ChannelCoreDelayedAck, PacketsAboveAnOpenGapAreAckedEveryFewNotEachOne) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  receiver.down = true;  // the first packet is lost
  Completion lost = sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 21us);
  receiver.down = false;
  // 20 packets 1 us apart: each arrives in a receive batch of its own.
  std::vector<Completion> after;
  for (std::uint32_t i = 2; i <= 21; ++i) {
    after.push_back(sender.core->send(make_payload(i), {}, network.now()));
    network.advance(1us);
  }
  network.run_until(start + 61us);  // 20 packets above the hole arrived; nothing filled it yet
  ASSERT_EQ(sender.core->stats().retransmissions, 0u);
  // One ack when the gap opened, then one per 4 packets above it (RFC 9000 13.2.1): 1 + 19/4.
  // Acking each of them (20) was the old behaviour.
  EXPECT_EQ(receiver.core->stats().acks_sent, 5u);
  network.run_until(start + 2ms);
  EXPECT_EQ(lost.status(), SendStatus::delivered);
  for (auto& completion : after) EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(sender.core->stats().timeouts, 0u) << "the hole was declared lost from the acks, not by a timeout";
  ASSERT_EQ(receiver.delivered.size(), 21u);
  for (std::uint32_t i = 0; i < 21; ++i) EXPECT_EQ(counter_of(receiver.delivered[i].payload), i + 1);
}

// Within one receive batch the ack of the packet that opens a gap and those of the packets
// above it are one, at the batch's end: the batch is handled at one instant and its acks leave
// the socket together, each a subset of the last (at 1% loss on a veth they had been half of
// all acks).
void acks_above_a_gap_in_one_batch_are_one(core::Duration max_ack_delay) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(max_ack_delay), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(max_ack_delay), "n1", 2);
  const TimePoint start = network.now();
  receiver.down = true;  // the first packet is lost
  Completion lost = sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 21us);
  receiver.down = false;
  std::vector<Completion> after;  // 20 packets above the hole, in one receive batch at 41 us
  for (std::uint32_t i = 2; i <= 21; ++i) after.push_back(sender.core->send(make_payload(i), {}, network.now()));
  network.run_until(start + 41us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 1u) << "one at the end of the batch (was the gap's + 19/4)";
  network.run_until(start + 62us);  // it reached the sender at 61 us
  EXPECT_EQ(lost.status(), SendStatus::pending);
  for (auto& completion : after)
    EXPECT_EQ(completion.status(), SendStatus::delivered) << "the batch's ack reported every packet of the batch";
  network.run_until(start + 2ms);
  EXPECT_EQ(lost.status(), SendStatus::delivered);
  EXPECT_EQ(sender.core->stats().timeouts, 0u) << "the hole was declared lost from the acks, not by a timeout";
  ASSERT_EQ(receiver.delivered.size(), 21u);
  for (std::uint32_t i = 0; i < 21; ++i) EXPECT_EQ(counter_of(receiver.delivered[i].payload), i + 1);
}

TEST(ChannelCoreDelayedAck, AcksAboveAGapWithinOneReceiveBatchAreOne) { acks_above_a_gap_in_one_batch_are_one(200us); }

TEST(ChannelCoreDelayedAck, AcksAboveAGapWithinOneReceiveBatchAreOneWithoutAckDelay) {
  acks_above_a_gap_in_one_batch_are_one(0us);
}

TEST(ChannelCoreDelayedAck, ALongInOrderBatchIsStillAckedEveryThirtyTwoPackets) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  std::vector<Completion> sent;  // 70 in-order packets, one receive batch at 20 us
  for (std::uint32_t i = 1; i <= 70; ++i) sent.push_back(sender.core->send(make_payload(i), {}, network.now()));
  network.run_until(start + 20us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 2u) << "after packets 32 and 64, within the batch";
  network.run_until(start + 2ms);
  for (auto& completion : sent) EXPECT_EQ(completion.status(), SendStatus::delivered);
  EXPECT_EQ(receiver.core->stats().acks_sent, 3u) << "the last 6 at max_ack_delay";
  EXPECT_EQ(sender.core->stats().retransmissions, 0u);
}

TEST(ChannelCoreDelayedAck, TheProbeTimeoutIncludesMaxAckDelay) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(300us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(300us), "n1", 2);
  receiver.down = true;
  const TimePoint start = network.now();
  sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 1299us);  // initial RTO 1 ms + max_ack_delay 300 us
  EXPECT_EQ(sender.core->stats().timeouts, 0u);
  network.run_until(start + 1301us);
  EXPECT_EQ(sender.core->stats().timeouts, 1u);
}

TEST(ChannelCoreDelayedAck, ZeroDelayAcksAtTheEndOfEveryBatch) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(0us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(0us), "n1", 2);
  const TimePoint start = network.now();
  Completion completion = sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 20us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 1u);
  network.run_until(start + 40us);
  EXPECT_EQ(completion.status(), SendStatus::delivered);
}

TEST(ChannelCoreDelayedAck, ClosingSendsThePendingAck) {
  SimNetwork network;
  auto& sender = network.add_node(delayed_ack_manifest(200us), "n0", 1);
  auto& receiver = network.add_node(delayed_ack_manifest(200us), "n1", 2);
  const TimePoint start = network.now();
  Completion completion = sender.core->send(make_payload(1), {}, network.now());
  network.run_until(start + 30us);
  EXPECT_EQ(receiver.core->stats().acks_sent, 0u);
  receiver.core->close();
  EXPECT_EQ(receiver.core->stats().acks_sent, 1u);
  network.run_until(start + 60us);
  EXPECT_EQ(completion.status(), SendStatus::delivered);
}

// Zero-copy sends (ChannelCore::Outgoing): an unreliable packet that leaves during send() is
// handed to the Output as header ++ the application's own bytes, lent only for that send.
TEST(ChannelCoreZeroCopy, UnreliablePacketLendsTheApplicationsBytesDuringSend) {
  SimNetwork network;
  const Manifest manifest = SimNetwork::group_manifest(2);
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  std::vector<std::byte> buffer = make_payload(7, 16384);
  sender.core->send(buffer, {}, network.now());
  // Fragmented at the default MTU: every fragment is a slice of the application's buffer.
  ASSERT_GT(sender.piece_transmits.size(), 1u);
  std::size_t offset = 0;
  for (const auto& transmit : sender.piece_transmits) {
    EXPECT_EQ(transmit.payload, buffer.data() + offset);
    EXPECT_TRUE(transmit.borrowed_for_send);
    offset += transmit.length;
  }
  EXPECT_EQ(offset, buffer.size());
  network.run_quiet();
  ASSERT_EQ(receiver.delivered.size(), 1u);
  EXPECT_EQ(receiver.delivered[0].payload, buffer);
}

// A message the pacer holds back outlives its send(): the core copies it before send()
// returns, so the application may overwrite its buffer at once; the later packets carry the
// original bytes and are never lent as the application's.
TEST(ChannelCoreZeroCopy, BackloggedUnreliableMessageIsCopiedBeforeSendReturns) {
  SimNetwork network;
  // 1 MB/s, 3000-byte burst: of 20 messages of 1000 B only the first two leave at once.
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.pacing = Pacing{.rate_bytes_per_second = 1e6, .burst_bytes = 3000}});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  std::vector<std::byte> buffer;
  for (std::uint64_t i = 0; i < 20; ++i) {
    buffer = make_payload(i, 1000);  // same capacity: the same memory each time
    sender.core->send(buffer, {}, network.now());
    std::fill(buffer.begin(), buffer.end(), std::byte{0xEE});  // reused right after send()
  }
  EXPECT_LT(sender.piece_transmits.size(), 20u);
  network.advance(100ms);
  ASSERT_EQ(receiver.delivered.size(), 20u);
  for (std::uint64_t i = 0; i < 20; ++i) {
    EXPECT_TRUE(payload_intact(receiver.delivered[i].payload)) << i;
    EXPECT_EQ(counter_of(receiver.delivered[i].payload), i);
  }
  ASSERT_EQ(sender.piece_transmits.size(), 20u);
  std::size_t lent = 0;
  for (const auto& transmit : sender.piece_transmits) {
    if (transmit.borrowed_for_send) ++lent;
    else EXPECT_NE(transmit.payload, buffer.data());  // the core's own copy
  }
  EXPECT_GE(lent, 1u);
  EXPECT_LT(lent, 20u);
}

// A reliable-buffer-reuse test's verdict: every send completed, the receiver got message i
// (counter i, bytes intact) as its i-th delivery, the loss was recovered by retransmissions,
// and no reliable packet was ever lent from the application's buffer.
void expect_every_message_delivered_intact(std::vector<Completion>& completions, SimNetwork::Node& sender,
                                           SimNetwork::Node& receiver) {
  for (auto& completion : completions) EXPECT_EQ(completion.status(), SendStatus::delivered);
  ASSERT_EQ(receiver.delivered.size(), completions.size());
  for (std::uint64_t i = 0; i < completions.size(); ++i) {
    ASSERT_TRUE(payload_intact(receiver.delivered[i].payload)) << i;
    ASSERT_EQ(counter_of(receiver.delivered[i].payload), i);
  }
  EXPECT_GT(sender.core->stats().retransmissions, 0u);
  EXPECT_TRUE(sender.piece_transmits.empty());  // reliable packets are never lent
}

// A reliable packet owns its bytes: the application reuses one buffer for every send, 20% of
// the packets are lost, and every retransmission still carries the message it was sent for.
TEST(ChannelCoreZeroCopy, ReliableRetransmissionsCarryTheOriginalBytesAfterTheBufferIsReused) {
  SimNetwork network(FaultConfig{.drop = 0.2, .seed = 11});
  const Manifest manifest = SimNetwork::group_manifest(
      2, {.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 10s}});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  constexpr std::uint64_t kMessages = 500;
  std::vector<std::byte> buffer;
  std::vector<Completion> completions;
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    buffer = make_payload(i, 3000);  // 3000 B: fragments at the default MTU as well
    completions.push_back(sender.core->send(buffer, {}, network.now()));
    std::fill(buffer.begin(), buffer.end(), std::byte{0xEE});
    if (i % 50 == 0) network.advance(1ms);
  }
  network.run_quiet();
  expect_every_message_delivered_intact(completions, sender, receiver);
}

// A one-packet reliable message the window holds back is staged as its packet (header room +
// payload, Outgoing::staged) before send() returns; pump() writes the header into that buffer
// and keeps it for retransmissions. The application overwrites its buffer after every send,
// 20% of the packets are lost both ways, and every delivery and retransmission still carries
// the message it was sent for.
TEST(ChannelCoreZeroCopy, OnePacketReliableMessagesHeldByTheWindowKeepTheirBytesThroughLoss) {
  SimNetwork network(FaultConfig{.drop = 0.2, .seed = 5});
  Reliability reliability{.kind = Reliability::Kind::all, .member_timeout = 10s};
  reliability.window = 8;  // of 300 messages sent at once, 292 wait in the backlog
  const Manifest manifest = SimNetwork::group_manifest(2, {.ordering = Ordering::fifo, .reliability = reliability});
  auto& sender = network.add_node(manifest, "n0", 1);
  auto& receiver = network.add_node(manifest, "n1", 2);
  constexpr std::uint64_t kMessages = 300;
  std::vector<std::byte> buffer;
  std::vector<Completion> completions;
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    buffer = make_payload(i, 1000);  // one packet at the default MTU
    completions.push_back(sender.core->send(buffer, {}, network.now()));
    std::fill(buffer.begin(), buffer.end(), std::byte{0xEE});
  }
  EXPECT_LE(sender.core->stats().packets_sent, 8u) << "the window held the rest back";
  network.run_quiet();
  expect_every_message_delivered_intact(completions, sender, receiver);
}

}  // namespace
}  // namespace tmc::test
