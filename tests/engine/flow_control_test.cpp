// Credit-based flow control: codec, receiver/sender rules, and a simulated slow receiver on a
// mock clock whose credit packets are lost at random.
#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

#include "flow_control/credit_sender.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

TEST(CreditCodec, RoundTripsAndRejectsMalformed) {
  std::vector<std::byte> packet(TMC_CREDIT_HEADER_SIZE);
  CreditMessage grant{.kind = CreditMessage::Kind::grant, .epoch = 7, .value = 0x0102030405060708ull,
                      .application_queue_bytes = 4096};
  ASSERT_EQ(encode_credit(grant, packet), TMC_CREDIT_HEADER_SIZE);
  EXPECT_EQ(packet[TMC_OFF_CREDIT_VALUE], std::byte{0x01});  // big-endian
  EXPECT_EQ(packet[TMC_OFF_CREDIT_VALUE + 7], std::byte{0x08});
  EXPECT_EQ(decode_credit(packet), grant);
  EXPECT_FALSE(decode_credit(std::span(packet).first(TMC_CREDIT_HEADER_SIZE - 1)));
  EXPECT_EQ(encode_credit(grant, std::span(packet).first(10)), 0u);
  auto bad_kind = packet;
  bad_kind[TMC_OFF_CREDIT_KIND] = std::byte{9};
  EXPECT_FALSE(decode_credit(bad_kind));
  auto bad_reserved = packet;
  bad_reserved[TMC_OFF_CREDIT_RESERVED] = std::byte{1};
  EXPECT_FALSE(decode_credit(bad_reserved));
}

CreditConfig small_config() {
  return CreditConfig{.window_bytes = 64 * 1000, .max_packet_payload_bytes = 1000,
                      .blocked_probe_interval = 100us, .send_buffer_bytes = 32 * 1000};
}

TEST(CreditReceiver, GrantsFloorPlusWindowNeverRevokesAndFlagsViolations) {
  CreditReceiver receiver(small_config(), 3, 100);
  TimePoint now{};
  EXPECT_EQ(receiver.granted_limit(), 164u);  // implicit initial grant
  EXPECT_TRUE(receiver.on_packet(163));
  EXPECT_FALSE(receiver.on_packet(164));
  EXPECT_EQ(receiver.violations(), 1u);
  EXPECT_FALSE(receiver.poll(now));  // nothing released yet
  receiver.on_released(110);         // 10 packets read; sender is waiting (it used all credit)
  auto grant = receiver.poll(now);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->value, 174u);
  EXPECT_EQ(grant->epoch, 3u);
  // The application says it still queues 20 packets' worth: the grant shrinks but never below
  // what was granted already.
  receiver.set_application_queue_bytes(20 * 1000);
  receiver.on_released(130);
  EXPECT_FALSE(receiver.poll(now));  // target 130 + 64 - 20 = 174: no new credit
  receiver.on_released(150);
  grant = receiver.poll(now);  // target 194: 20 more, >= a quarter window
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->value, 194u);
  EXPECT_EQ(grant->application_queue_bytes, 20000u);
}

TEST(CreditReceiver, AnswersABlockedProbeFromASenderThatMissedAGrant) {
  CreditReceiver receiver(small_config(), 1, 0);
  TimePoint now{};
  receiver.on_released(64);
  ASSERT_TRUE(receiver.poll(now));  // grant 128, lost on the way
  EXPECT_FALSE(receiver.poll(now));
  receiver.on_blocked({.kind = CreditMessage::Kind::blocked, .epoch = 1, .value = 64});
  auto again = receiver.poll(now);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->value, 128u);
  receiver.on_blocked({.kind = CreditMessage::Kind::blocked, .epoch = 2, .value = 64});  // other epoch
  EXPECT_FALSE(receiver.poll(now));
}

TEST(CreditSender, GroupLimitIsTheSlowestReceiverAndDownMembersStopCounting) {
  CreditSender sender(small_config(), 1);
  EXPECT_TRUE(sender.can_send(1u << 30));  // no receivers
  sender.add_receiver(10);
  sender.add_receiver(11);
  EXPECT_EQ(sender.limit(), 64u);
  sender.on_grant(10, {.kind = CreditMessage::Kind::grant, .epoch = 1, .value = 200});
  EXPECT_EQ(sender.limit(), 64u);
  sender.on_grant(11, {.kind = CreditMessage::Kind::grant, .epoch = 1, .value = 100});
  sender.on_grant(11, {.kind = CreditMessage::Kind::grant, .epoch = 1, .value = 90});  // reordered, older
  sender.on_grant(11, {.kind = CreditMessage::Kind::grant, .epoch = 9, .value = 500});  // other epoch
  EXPECT_EQ(sender.limit(), 100u);
  sender.remove_receiver(11);
  EXPECT_EQ(sender.limit(), 200u);
  // Blocked probes: none at once, then one per interval to the receivers that block.
  TimePoint now{};
  EXPECT_TRUE(sender.poll(200, now).empty());
  EXPECT_TRUE(sender.poll(200, now + 50us).empty());
  auto probes = sender.poll(200, now + 100us);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(probes[0].first, 10u);
  EXPECT_EQ(probes[0].second.kind, CreditMessage::Kind::blocked);
  EXPECT_EQ(probes[0].second.value, 200u);
}

TEST(CreditSender, MemoryReservationIsBounded) {
  CreditSender sender(small_config(), 1);
  EXPECT_TRUE(sender.try_reserve(100 * 1000));  // a message over the bound travels alone
  EXPECT_FALSE(sender.try_reserve(1));
  sender.release(100 * 1000);
  for (int i = 0; i < 32; ++i) EXPECT_TRUE(sender.try_reserve(1000));
  EXPECT_FALSE(sender.try_reserve(1000));
  EXPECT_EQ(sender.buffered_bytes(), 32u * 1000);
}

// A receiver that stops reading holds sender and receiver memory under their bounds; when it
// reads again everything arrives, in order, with no credit violation — through 30% loss of
// credit packets.
TEST(FlowControlSimulation, StoppedReceiverBoundsSenderMemoryAndNothingIsLost) {
  const CreditConfig config = small_config();
  const Duration tick = 10us;
  const std::uint64_t kMessages = 20000, kMessageBytes = 1000;
  CreditSender sender(config, 1);
  CreditReceiver receiver(config, 1, 0);
  sender.add_receiver(2, 0);
  std::mt19937 random(42);
  std::bernoulli_distribution credit_lost(0.3);

  struct InFlight { std::uint64_t at_tick; std::uint64_t sequence; };
  std::deque<InFlight> data_to_receiver, acks_to_sender;
  std::deque<std::pair<std::uint64_t, CreditMessage>> grants_to_sender, probes_to_receiver;
  std::deque<std::uint64_t> send_queue;    // admitted, not yet sent
  std::deque<std::uint64_t> receive_buffer;  // received, not yet read
  std::uint64_t admitted = 0, next_sequence = 0, next_to_read = 0;
  std::uint64_t max_sender_memory = 0, max_receiver_memory = 0, sent_at_stop = 0, sent_at_resume = 0;
  std::uint64_t tick_index = 0;

  for (; tick_index < 200000 && next_to_read < kMessages; ++tick_index) {
    const TimePoint now = TimePoint{} + tick * tick_index;
    // Application: pushes as fast as the sender admits.
    while (admitted < kMessages && sender.try_reserve(kMessageBytes)) send_queue.push_back(admitted++);
    // Sender: new packets only within credit.
    while (!send_queue.empty() && sender.can_send(next_sequence)) {
      ASSERT_EQ(send_queue.front(), next_sequence);
      data_to_receiver.push_back({tick_index + 1, next_sequence++});
      send_queue.pop_front();
    }
    for (auto& probe : sender.poll(next_sequence, now))
      if (!credit_lost(random)) probes_to_receiver.push_back({tick_index + 1, probe.second});
    // Network.
    while (!data_to_receiver.empty() && data_to_receiver.front().at_tick <= tick_index) {
      ASSERT_TRUE(receiver.on_packet(data_to_receiver.front().sequence));
      receive_buffer.push_back(data_to_receiver.front().sequence);
      acks_to_sender.push_back({tick_index + 1, data_to_receiver.front().sequence});
      data_to_receiver.pop_front();
    }
    while (!acks_to_sender.empty() && acks_to_sender.front().at_tick <= tick_index) {
      sender.release(kMessageBytes);  // reliable: acknowledged messages leave sender memory
      acks_to_sender.pop_front();
    }
    while (!probes_to_receiver.empty() && probes_to_receiver.front().first <= tick_index) {
      receiver.on_blocked(probes_to_receiver.front().second);
      probes_to_receiver.pop_front();
    }
    while (!grants_to_sender.empty() && grants_to_sender.front().first <= tick_index) {
      sender.on_grant(2, grants_to_sender.front().second);
      grants_to_sender.pop_front();
    }
    // Receiving application: 1 message per tick, then stops for 5000 ticks, then reads fast.
    int reads = tick_index < 2000 ? 1 : tick_index < 7000 ? 0 : 100;
    if (tick_index == 2500) sent_at_stop = next_sequence;
    if (tick_index == 7000) sent_at_resume = next_sequence;
    for (int i = 0; i < reads && !receive_buffer.empty(); ++i) {
      ASSERT_EQ(receive_buffer.front(), next_to_read);
      receive_buffer.pop_front();
      ++next_to_read;
    }
    receiver.on_released(next_to_read);
    if (auto grant = receiver.poll(now); grant && !credit_lost(random))
      grants_to_sender.push_back({tick_index + 1, *grant});
    max_sender_memory = std::max(max_sender_memory, sender.buffered_bytes());
    max_receiver_memory = std::max<std::uint64_t>(max_receiver_memory, receive_buffer.size() * kMessageBytes);
  }
  EXPECT_EQ(next_to_read, kMessages);
  EXPECT_EQ(receiver.violations(), 0u);
  EXPECT_LE(max_sender_memory, config.send_buffer_bytes);
  EXPECT_LE(max_receiver_memory, config.window_bytes);
  EXPECT_EQ(sent_at_stop, sent_at_resume) << "a receiver that stopped reading must stop its sender";
  EXPECT_LE(sent_at_stop, 2000 + config.window_packets());  // at most one window beyond what was read
}

}  // namespace
}  // namespace tmc
