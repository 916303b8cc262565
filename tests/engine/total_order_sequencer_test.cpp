// Total order building blocks: SEQUENCE codec, stamp log, sequencer, and member rules.
#include <gtest/gtest.h>

#include "ordering/total_order_member.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

TEST(SequenceCodec, RoundTripsEveryKindAndRejectsMalformed) {
  std::vector<SequenceMessage> messages = {
      {.kind = SequenceMessage::Kind::stamps, .view = 3, .group_sequence = 1ull << 40,
       .stamps = {{1, 2, 3}, {0xFFFFFFFF, 7, 0x0102030405060708ull}}},
      {.kind = SequenceMessage::Kind::request, .view = 1, .group_sequence = 10, .request_count = 64},
      {.kind = SequenceMessage::Kind::heartbeat, .view = 9, .group_sequence = 77},
      {.kind = SequenceMessage::Kind::view_change, .view = 4, .group_sequence = 5},
      {.kind = SequenceMessage::Kind::new_view, .view = 4, .group_sequence = 6},
  };
  for (const auto& message : messages) {
    std::vector<std::byte> packet(sequence_encoded_size(message));
    ASSERT_EQ(encode_sequence(message, packet), packet.size());
    EXPECT_EQ(decode_sequence(packet), message);
  }
  std::vector<std::byte> packet(sequence_encoded_size(messages[0]));
  encode_sequence(messages[0], packet);
  EXPECT_EQ(packet[TMC_OFF_SEQ_GROUP_SEQUENCE + 2], std::byte{1});  // big-endian 1 << 40
  EXPECT_FALSE(decode_sequence(std::span(packet).first(packet.size() - 1)));  // stamp cut short
  EXPECT_FALSE(decode_sequence(std::span(packet).first(TMC_SEQ_HEADER_SIZE - 1)));
  auto bad = packet;
  bad[TMC_OFF_SEQ_KIND] = std::byte{0};
  EXPECT_FALSE(decode_sequence(bad));
  bad = packet;
  bad[TMC_OFF_SEQ_KIND] = std::byte{TMC_SEQ_KIND_MAX + 1};
  EXPECT_FALSE(decode_sequence(bad));
  bad = packet;
  bad[TMC_OFF_SEQ_RESERVED] = std::byte{1};
  EXPECT_FALSE(decode_sequence(bad));
  bad = packet;
  bad[TMC_OFF_SEQ_COUNT + 1] = std::byte{0};  // zero stamps
  EXPECT_FALSE(decode_sequence(bad));
  bad = packet;
  bad[TMC_OFF_SEQ_COUNT] = std::byte{1};  // 258 stamps: above the limit
  EXPECT_FALSE(decode_sequence(bad));
  std::vector<std::byte> heartbeat(TMC_SEQ_HEADER_SIZE);
  encode_sequence(messages[2], heartbeat);
  heartbeat[TMC_OFF_SEQ_COUNT + 1] = std::byte{1};  // a heartbeat carries no stamps
  EXPECT_FALSE(decode_sequence(heartbeat));
  std::vector<std::byte> request(TMC_SEQ_HEADER_SIZE);
  encode_sequence(messages[1], request);
  request[TMC_OFF_SEQ_COUNT + 1] = std::byte{0};
  EXPECT_FALSE(decode_sequence(request));  // request for nothing
  SequenceMessage too_many{.kind = SequenceMessage::Kind::stamps, .stamps = std::vector<MessageId>(TMC_SEQ_MAX_STAMPS + 1)};
  std::vector<std::byte> big(sequence_encoded_size(too_many));
  EXPECT_EQ(encode_sequence(too_many, big), 0u);
}

TEST(Sequencer, StampsOnceBatchesAndBeatsWhenIdle) {
  TimePoint t0{};
  Sequencer sequencer({.heartbeat_interval = 500us, .max_stamps_per_packet = 2}, 4, 100, t0);
  EXPECT_EQ(sequencer.on_message({1, 1, 10}), 100u);
  EXPECT_EQ(sequencer.on_message({2, 1, 10}), 101u);
  EXPECT_EQ(sequencer.on_message({1, 1, 10}), 100u);  // duplicate
  EXPECT_EQ(sequencer.on_message({1, 1, 11}), 102u);
  auto out = sequencer.poll(t0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].view, 4u);
  EXPECT_EQ(out[0].group_sequence, 100u);
  EXPECT_EQ(out[0].stamps.size(), 2u);
  EXPECT_EQ(out[1].group_sequence, 102u);
  EXPECT_EQ(out[1].stamps, (std::vector<MessageId>{{1, 1, 11}}));
  EXPECT_TRUE(sequencer.poll(t0 + 499us).empty());
  out = sequencer.poll(t0 + 500us);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, SequenceMessage::Kind::heartbeat);
  EXPECT_EQ(out[0].group_sequence, 103u);
}

TEST(StampLog, AnswersRunsSplitByViewAndErasesSupersededStamps) {
  StampLog log;
  for (std::uint64_t g = 0; g < 5; ++g) ASSERT_TRUE(log.insert(g, {{1, 1, g}, g < 3 ? 0u : 1u}));
  EXPECT_FALSE(log.insert(2, {{9, 9, 9}, 0}));      // slot taken
  // A message placed a second time (re-stamped after a view change): the first placement is the
  // one find(id) names, so members skip the later slot.
  EXPECT_TRUE(log.insert(9, {{1, 1, 0}, 1}));
  EXPECT_EQ(log.find(MessageId{1, 1, 0}), 0u);
  ASSERT_TRUE(log.insert(7, {{1, 1, 7}, 1}));
  EXPECT_EQ(log.contiguous_end(0), 5u);
  auto replies = log.answer(1, 8);
  ASSERT_EQ(replies.size(), 3u);  // [1,3) view 0, [3,5) view 1, [7] view 1
  EXPECT_EQ(replies[0].group_sequence, 1u);
  EXPECT_EQ(replies[0].stamps.size(), 2u);
  EXPECT_EQ(replies[1].view, 1u);
  EXPECT_EQ(replies[2].group_sequence, 7u);
  EXPECT_EQ(log.erase_superseded(4, 2), 3u);  // 4, 7 and 9 (view 1 < 2)
  EXPECT_EQ(log.find(MessageId{1, 1, 0}), 0u);
  EXPECT_EQ(log.contiguous_end(0), 4u);
  EXPECT_FALSE(log.find(MessageId{1, 1, 7}));
}

TotalOrderConfig config_for(const std::string& self, bool reliable) {
  TotalOrderConfig config;
  config.self = self;
  config.participants = {"b", "a"};  // sequencer: lowest name, "a"
  config.reliable = reliable;
  return config;
}

TEST(TotalOrderMember, HoldsUntilStampedThenDeliversInGroupOrder) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", true), t0);
  EXPECT_EQ(member.sequencer(), "a");
  EXPECT_FALSE(member.is_sequencer());
  member.on_data({1, 1, 5}, {std::byte{5}}, t0);
  member.on_data({2, 1, 9}, {std::byte{9}}, t0);
  EXPECT_TRUE(member.take_deliveries().empty());
  member.on_sequence("a", {.kind = SequenceMessage::Kind::stamps, .group_sequence = 0,
                           .stamps = {{2, 1, 9}, {1, 1, 5}}}, t0);
  auto delivered = member.take_deliveries();
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0].id, (MessageId{2, 1, 9}));
  EXPECT_EQ(delivered[1].payload, std::vector<std::byte>{std::byte{5}});
  member.on_data({1, 1, 5}, {std::byte{5}}, t0);  // late duplicate
  EXPECT_TRUE(member.take_deliveries().empty());
  EXPECT_EQ(member.stats().duplicate_data, 1u);
}

TEST(TotalOrderMember, AMessageStampedTwiceIsDeliveredOnceAtItsFirstPlace) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", true), t0);
  member.on_data({1, 1, 5}, {}, t0);
  member.on_data({1, 1, 6}, {}, t0);
  member.on_sequence("a", {.kind = SequenceMessage::Kind::stamps, .group_sequence = 0,
                           .stamps = {{1, 1, 5}, {1, 1, 5}, {1, 1, 6}}}, t0);
  auto delivered = member.take_deliveries();
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0].group_sequence, 0u);
  EXPECT_EQ(delivered[1].group_sequence, 2u);
  EXPECT_EQ(member.next_to_deliver(), 3u);
  EXPECT_EQ(member.stats().duplicate_placements, 1u);
}

TEST(TotalOrderMember, ReliableRequestsAMissingStampAfterTheRequestDelay) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", true), t0);
  member.on_sequence("a", {.kind = SequenceMessage::Kind::stamps, .group_sequence = 3, .stamps = {{1, 1, 3}}}, t0);
  member.poll(t0 + 100us);
  EXPECT_TRUE(member.take_outgoing().empty());
  member.poll(t0 + 200us);
  auto out = member.take_outgoing();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].destination, "a");
  EXPECT_EQ(out[0].message.kind, SequenceMessage::Kind::request);
  EXPECT_EQ(out[0].message.group_sequence, 0u);
  EXPECT_EQ(out[0].message.request_count, 3u);
  EXPECT_TRUE(member.take_gaps().empty());
}

TEST(TotalOrderMember, UnreliableReportsAGapOnceAfterTheHoldTimeout) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", false), t0);
  member.on_data({1, 1, 3}, {}, t0);
  member.on_sequence("a", {.kind = SequenceMessage::Kind::stamps, .group_sequence = 1,
                           .stamps = {{1, 1, 2}, {1, 1, 3}}}, t0);
  member.poll(t0 + 1ms);
  EXPECT_TRUE(member.take_gaps().empty());
  member.poll(t0 + 2ms);
  auto gaps = member.take_gaps();
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].first_group_sequence, 0u);
  EXPECT_EQ(gaps[0].count, 2u);  // 0 (stamp lost) and 1 (stamp known, message lost)
  EXPECT_EQ(gaps[0].lost, (std::vector<MessageId>{{1, 1, 2}}));
  ASSERT_EQ(member.take_deliveries().size(), 1u);  // group sequence 2
  member.poll(t0 + 10ms);
  EXPECT_TRUE(member.take_gaps().empty());
  member.on_data({1, 1, 2}, {}, t0 + 10ms);  // too late
  EXPECT_TRUE(member.take_deliveries().empty());
  for (const auto& out : member.take_outgoing())
    EXPECT_NE(out.message.kind, SequenceMessage::Kind::request) << "unreliable mode never asks for stamps";
}

TEST(TotalOrderMember, SilentSequencerIsSuspectedAndStaleViewStampsRefused) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", true), t0);
  member.poll(t0 + 5ms);
  EXPECT_TRUE(member.take_sequencer_changes().empty());
  member.poll(t0 + 6ms);
  auto changes = member.take_sequencer_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].suspected, "a");
  EXPECT_EQ(changes[0].sequencer, "b");  // view 1: candidates[1 % 2]
  // b is the new sequencer and the only live participant: it installs view 1 at once.
  EXPECT_FALSE(member.in_view_change());
  EXPECT_TRUE(member.is_sequencer());
  auto announced = member.take_outgoing();
  ASSERT_FALSE(announced.empty());
  EXPECT_EQ(announced[0].message.kind, SequenceMessage::Kind::new_view);
  EXPECT_EQ(announced[0].message.view, 1u);
  member.on_data({2, 1, 1}, {}, t0 + 7ms);
  EXPECT_EQ(member.view(), 1u);
  ASSERT_EQ(member.take_deliveries().size(), 1u);  // stamped by b itself in view 1
  // The old sequencer wakes up and stamps in view 0 at a slot view 1 owns: refused.
  member.on_sequence("a", {.kind = SequenceMessage::Kind::stamps, .view = 0, .group_sequence = 1, .stamps = {{1, 1, 1}}},
                     t0 + 13ms);
  EXPECT_EQ(member.stats().stale_stamps, 1u);
  auto out = member.take_outgoing();
  bool told_old_sequencer = false;
  for (const auto& message : out)
    if (message.destination == "a" && message.message.kind == SequenceMessage::Kind::view_change &&
        message.message.view == 1)
      told_old_sequencer = true;
  EXPECT_TRUE(told_old_sequencer);
}

TEST(TotalOrderMember, ARestartedSequencerIsGivenUpOnAtOnce) {
  TimePoint t0{};
  TotalOrderMember member(config_for("b", true), t0);
  member.poll(t0 + 1ms);
  EXPECT_TRUE(member.take_sequencer_changes().empty()) << "well within sequencer_timeout";
  member.suspect_sequencer(t0 + 1ms);
  auto changes = member.take_sequencer_changes();
  ASSERT_EQ(changes.size(), 1u) << "reported like a silent sequencer, without waiting for the timeout";
  EXPECT_EQ(changes[0].suspected, "a");
  EXPECT_EQ(changes[0].new_view, 1u);
  EXPECT_EQ(member.view(), 1u);
  EXPECT_EQ(member.sequencer(), "b");
  member.poll(t0 + 1ms);  // the view change progresses on the poll timer
  EXPECT_TRUE(member.is_sequencer()) << "b sequences view 1 and is the only live participant";
  member.suspect_sequencer(t0 + 2ms);  // nobody to give up on: b is the sequencer
  EXPECT_EQ(member.view(), 1u);
  EXPECT_TRUE(member.take_sequencer_changes().empty());
}

}  // namespace
}  // namespace tmc
