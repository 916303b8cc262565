// core/send_stream: window accounting, cumulative + SACK acknowledgement, Karn's algorithm,
// RFC 9002 6.1.1 packet-threshold loss detection, re-retransmission after the time threshold,
// timer retransmission, abandonment moving the forward sequence, and a group stream with
// several receivers. Mock time throughout.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "core/send_stream.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = TimePoint(std::chrono::seconds(100));

// Records what the stream reports and, like the channel core, marks a retransmitted packet as
// sent again (transmissions + 1, last_sent = now).
struct Recorder : SendStream::Events {
  struct Acked {
    std::uint64_t message_id;
    int member;
    std::optional<Duration> rtt;
  };
  struct Retransmitted {
    std::uint64_t message_id;
    int member;
  };
  std::vector<Acked> acked;
  std::vector<Retransmitted> retransmitted;
  std::vector<Acked> done;  // on_packet_done: every receiver acknowledged (member unused: -1)
  TimePoint now = kStart;

  void on_acked(const SentPacket& packet, int member, const Duration* rtt) override {
    acked.push_back({packet.message_id, member, rtt ? std::optional<Duration>(*rtt) : std::nullopt});
  }
  void on_packet_done(const SentPacket& packet, const Duration* rtt) override {
    done.push_back({packet.message_id, -1, rtt ? std::optional<Duration>(*rtt) : std::nullopt});
  }
  void on_retransmit(SentPacket& packet, int member) override {
    retransmitted.push_back({packet.message_id, member});
    packet.last_sent = now;
    ++packet.transmissions;
  }
  std::vector<std::uint64_t> acked_ids() const {
    std::vector<std::uint64_t> ids;
    for (const auto& a : acked) ids.push_back(a.message_id);
    return ids;
  }
  std::vector<std::uint64_t> retransmitted_ids() const {
    std::vector<std::uint64_t> ids;
    for (const auto& r : retransmitted) ids.push_back(r.message_id);
    return ids;
  }
};
using Ids = std::vector<std::uint64_t>;

// A reliable packet for every receiver position in `mask`; message id = its sequence unless given.
SentPacket packet(std::uint64_t message_id, std::uint64_t mask, TimePoint sent) {
  SentPacket p;
  p.bytes = {std::byte{1}, std::byte{2}};
  p.message_id = message_id;
  p.first_sent = p.last_sent = sent;
  p.pending = mask;
  return p;
}

wire::AckFrame ack(std::uint64_t cumulative, std::vector<wire::SackBlock> blocks = {}) {
  wire::AckFrame a;
  a.cumulative = cumulative;
  a.block_count = static_cast<std::uint16_t>(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) a.blocks[i] = blocks[i];
  return a;
}

// Records `count` reliable packets for one receiver, message ids = sequences, 1 ms apart.
void send_n(SendStream& stream, std::uint64_t count, std::uint64_t mask = 1, TimePoint start = kStart) {
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t sequence = stream.next_sequence();
    stream.record(packet(sequence, mask, start + std::chrono::milliseconds(i)));
  }
}

TEST(SendStream, RecordAdvancesSequenceAndWindow) {
  SendStream stream(0, {4}, 1000);
  EXPECT_EQ(stream.next_sequence(), 1000u);
  EXPECT_EQ(stream.forward_sequence(), 1000u);
  EXPECT_EQ(stream.in_flight(), 0u);
  send_n(stream, 5);
  EXPECT_EQ(stream.next_sequence(), 1005u);
  EXPECT_EQ(stream.in_flight(), 5u);
  EXPECT_EQ(stream.forward_sequence(), 1000u);
  EXPECT_EQ(stream.pending_for(0), 5u);
  EXPECT_EQ(stream.position_of(4), 0);
  EXPECT_EQ(stream.position_of(3), -1);
}

TEST(SendStream, UnreliablePacketWithEmptyWindowOnlyTakesASequence) {
  SendStream stream(0, {0}, 0);
  stream.record(packet(1, 0, kStart));
  stream.record(packet(2, 0, kStart));
  EXPECT_EQ(stream.next_sequence(), 2u);
  EXPECT_EQ(stream.in_flight(), 0u);
  EXPECT_EQ(stream.forward_sequence(), 2u);  // nothing outstanding: the forward point moves on
}

TEST(SendStream, UnreliablePacketBehindAReliableOneIsAPlaceholder) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  stream.record(packet(0, 1, kStart));  // reliable, sequence 0
  stream.record(packet(1, 0, kStart));  // unreliable, sequence 1: keeps the window contiguous
  stream.record(packet(2, 1, kStart));  // reliable, sequence 2
  EXPECT_EQ(stream.in_flight(), 3u);
  EXPECT_EQ(stream.pending_for(0), 2u);
  stream.on_ack(0, ack(1), kStart + 1ms, events);
  EXPECT_EQ(stream.forward_sequence(), 2u);  // placeholder popped with the acked packet
  EXPECT_EQ(stream.in_flight(), 1u);
  EXPECT_EQ(events.acked_ids(), (Ids{0}));
}

TEST(SendStream, CumulativeAckReleasesTheWindow) {
  SendStream stream(0, {7}, 0);
  Recorder events;
  send_n(stream, 5);
  stream.on_ack(0, ack(3), kStart + 10ms, events);
  EXPECT_EQ(events.acked_ids(), (Ids{0, 1, 2}));
  for (const auto& a : events.acked) EXPECT_EQ(a.member, 7) << "members are reported by index, not position";
  EXPECT_EQ(stream.forward_sequence(), 3u);
  EXPECT_EQ(stream.in_flight(), 2u);
  EXPECT_EQ(stream.pending_for(0), 2u);
  // A stale (smaller) cumulative ack changes nothing.
  stream.on_ack(0, ack(1), kStart + 11ms, events);
  EXPECT_EQ(events.acked.size(), 3u);
  stream.on_ack(0, ack(5), kStart + 12ms, events);
  EXPECT_EQ(events.acked_ids(), (Ids{0, 1, 2, 3, 4}));
  EXPECT_EQ(stream.in_flight(), 0u);
  EXPECT_EQ(stream.forward_sequence(), 5u);
}

// Packets that leave the window give their byte buffers to the stream's pool; the next
// packet's buffer is one of them (capacity kept, contents gone).
TEST(SendStream, AcknowledgedPacketsBuffersAreRecycled) {
  SendStream stream(0, {7}, 0);
  Recorder events;
  EXPECT_EQ(stream.take_buffer().capacity(), 0u);  // nothing recycled yet
  send_n(stream, 5);
  stream.on_ack(0, ack(3), kStart + 10ms, events);
  EXPECT_EQ(stream.buffers().size(), 3u);  // the three acknowledged packets
  auto buffer = stream.take_buffer();
  EXPECT_TRUE(buffer.empty());
  EXPECT_GE(buffer.capacity(), 2u);
  EXPECT_EQ(stream.buffers().size(), 2u);
  // Packets still in flight keep their bytes (they may be retransmitted).
  stream.on_timer(kStart + 10s, [](int) { return Duration(1ms); }, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{3, 4}));
  stream.on_ack(0, ack(5), kStart + 11s, events);
  EXPECT_EQ(stream.buffers().size(), 4u);
}

TEST(SendStream, AckBeyondWhatWasSentIsClamped) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 2);
  stream.on_ack(0, ack(1000, {{1002, 1010}}), kStart + 1ms, events);
  EXPECT_EQ(events.acked_ids(), (Ids{0, 1}));
  EXPECT_EQ(stream.in_flight(), 0u);
  EXPECT_EQ(stream.largest_acked(0), 2u);
}

TEST(SendStream, SackBlocksAcknowledgeAboveAHole) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 6);
  stream.on_ack(0, ack(1, {{2, 4}, {5, 6}}), kStart + 10ms, events);
  EXPECT_EQ(events.acked_ids(), (Ids{0, 2, 3, 5}));
  EXPECT_EQ(stream.pending_for(0), 2u);  // 1 and 4
  EXPECT_EQ(stream.forward_sequence(), 1u);
  EXPECT_EQ(stream.in_flight(), 5u);  // window is contiguous from the hole
  EXPECT_EQ(stream.largest_acked(0), 6u);
  // The same SACK again acknowledges nothing twice.
  stream.on_ack(0, ack(1, {{2, 4}, {5, 6}}), kStart + 11ms, events);
  EXPECT_EQ(events.acked.size(), 4u);
  stream.on_ack(0, ack(6), kStart + 12ms, events);
  EXPECT_EQ(events.acked_ids(), (Ids{0, 2, 3, 5, 1, 4}));
  EXPECT_EQ(stream.in_flight(), 0u);
}

TEST(SendStream, RttSampleComesFromTheLargestNewlyAckedPacket) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 3);  // sent at +0, +1, +2 ms
  stream.on_ack(0, ack(3), kStart + 10ms, events);
  ASSERT_EQ(events.acked.size(), 3u);
  EXPECT_FALSE(events.acked[0].rtt);
  EXPECT_FALSE(events.acked[1].rtt);
  ASSERT_TRUE(events.acked[2].rtt);
  EXPECT_EQ(*events.acked[2].rtt, 8ms);  // acked at +10, sent at +2
}

TEST(SendStream, KarnNoRttSampleForARetransmittedPacket) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 1);
  events.now = kStart + 5ms;
  auto timed_out = stream.on_timer(kStart + 5ms, [](int) { return Duration(5ms); }, events);
  ASSERT_EQ(timed_out, (std::vector<int>{0}));
  ASSERT_EQ(events.retransmitted_ids(), (Ids{0}));
  stream.on_ack(0, ack(1), kStart + 6ms, events);
  ASSERT_EQ(events.acked.size(), 1u);
  EXPECT_FALSE(events.acked[0].rtt) << "ambiguous sample (RFC 6298 section 3) must not be taken";
}

TEST(SendStream, PacketThresholdIsThree) {
  static_assert(SendStream::kPacketThreshold == 3, "RFC 9002 6.1.1 kPacketThreshold");
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 6);
  // Sequence 0 lost; 1 and 2 acknowledged: only two later packets, not lost yet.
  stream.on_ack(0, ack(0, {{1, 3}}), kStart + 10ms, events);
  stream.detect_losses(0, kStart + 10ms, 1ms, events);
  EXPECT_TRUE(events.retransmitted.empty());
  // 3 acknowledged: three later packets, 0 is lost.
  stream.on_ack(0, ack(0, {{1, 4}}), kStart + 11ms, events);
  events.now = kStart + 11ms;
  stream.detect_losses(0, kStart + 11ms, 1ms, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0}));
}

TEST(SendStream, PacketThresholdCountsSequencesNotAcks) {
  // Only 5 is acknowledged: 0, 1 and 2 are three or more below it (lost); 3 and 4 are not.
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 6);
  stream.on_ack(0, ack(0, {{5, 6}}), kStart + 10ms, events);
  events.now = kStart + 10ms;
  stream.detect_losses(0, kStart + 10ms, 1ms, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 1, 2}));
}

TEST(SendStream, RetransmittedPacketWaitsForTheTimeThreshold) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 5);
  stream.on_ack(0, ack(0, {{1, 5}}), kStart + 10ms, events);
  events.now = kStart + 10ms;
  stream.detect_losses(0, kStart + 10ms, 2ms, events);
  ASSERT_EQ(events.retransmitted_ids(), (Ids{0}));
  // Another ack soon after: the retransmission is still in flight, not again.
  events.now = kStart + 11ms;
  stream.detect_losses(0, kStart + 11ms, 2ms, events);
  EXPECT_EQ(events.retransmitted.size(), 1u);
  // After the time threshold since the last transmission: again.
  events.now = kStart + 12ms;
  stream.detect_losses(0, kStart + 12ms, 2ms, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 0}));
}

TEST(SendStream, NoLossDetectionWithoutAcknowledgements) {
  SendStream stream(0, {0}, 1000);
  Recorder events;
  send_n(stream, 10);
  stream.detect_losses(0, kStart + 1s, 1ms, events);
  EXPECT_TRUE(events.retransmitted.empty());
}

TEST(SendStream, TimerRetransmitsOnlyExpiredPackets) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 3);  // last_sent +0, +1, +2 ms
  const auto rto = [](int) { return Duration(10ms); };
  EXPECT_EQ(stream.next_timeout(rto), kStart + 10ms);
  events.now = kStart + 9ms;
  EXPECT_TRUE(stream.on_timer(kStart + 9ms, rto, events).empty());
  EXPECT_TRUE(events.retransmitted.empty());
  events.now = kStart + 11ms;
  EXPECT_EQ(stream.on_timer(kStart + 11ms, rto, events), (std::vector<int>{0}));
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 1}));
  // Retransmitted packets re-arm from their new send time.
  EXPECT_EQ(stream.next_timeout(rto), kStart + 12ms);
  stream.on_ack(0, ack(3), kStart + 13ms, events);
  EXPECT_EQ(stream.next_timeout(rto), kNever);
}

TEST(SendStream, AbandonReceiverMovesTheForwardSequence) {
  SendStream stream(0, {3}, 50);
  Recorder events;
  send_n(stream, 4);
  std::vector<std::uint64_t> abandoned;
  stream.abandon_receiver(0, [&](const SentPacket& p) { abandoned.push_back(p.message_id); });
  EXPECT_EQ(abandoned, (Ids{50, 51, 52, 53}));
  EXPECT_EQ(stream.pending_for(0), 0u);
  EXPECT_EQ(stream.forward_sequence(), 54u);
  EXPECT_EQ(stream.in_flight(), 0u);
  // A late ack for abandoned packets reports nothing.
  stream.on_ack(0, ack(54), kStart + 1s, events);
  EXPECT_TRUE(events.acked.empty());
  EXPECT_EQ(stream.next_timeout([](int) { return Duration(1ms); }), kNever);
}

TEST(SendStream, AbandonMessageMovesTheForwardSequencePastIt) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  // Message 7 in sequences 0..2, message 8 in 3..4.
  for (int i = 0; i < 3; ++i) stream.record(packet(7, 1, kStart));
  for (int i = 0; i < 2; ++i) stream.record(packet(8, 1, kStart));
  std::vector<std::uint64_t> abandoned;
  const auto note = [&](const SentPacket& p) { abandoned.push_back(p.message_id); };
  stream.abandon_message(7, note);
  EXPECT_EQ(abandoned, (Ids{7, 7, 7}));
  EXPECT_EQ(stream.forward_sequence(), 3u);
  EXPECT_EQ(stream.pending_for(0), 2u);
  EXPECT_EQ(stream.in_flight(), 2u);
  // Abandoning a message behind a pending one does not move the forward sequence.
  stream.record(packet(9, 1, kStart));  // sequence 5
  stream.abandon_message(9, note);
  EXPECT_EQ(abandoned, (Ids{7, 7, 7, 9}));
  stream.abandon_message(9, note);  // nothing left to abandon
  EXPECT_EQ(abandoned.size(), 4u);
  EXPECT_EQ(stream.forward_sequence(), 3u);
  EXPECT_EQ(stream.pending_for(0), 2u);
  // The timer no longer retransmits abandoned packets.
  events.now = kStart + 1s;
  stream.on_timer(kStart + 1s, [](int) { return Duration(1ms); }, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{8, 8}));
  stream.on_ack(0, ack(5), kStart + 1s, events);
  EXPECT_EQ(stream.forward_sequence(), 6u);
  EXPECT_EQ(stream.in_flight(), 0u);
}

TEST(SendStream, GroupStreamNeedsEveryReceiver) {
  // Members 2, 5, 9 at positions 0, 1, 2.
  SendStream stream(1, {2, 5, 9}, 0);
  Recorder events;
  send_n(stream, 4, 0b111);
  EXPECT_EQ(stream.position_of(5), 1);
  for (int position = 0; position < 3; ++position) EXPECT_EQ(stream.pending_for(position), 4u);
  stream.on_ack(0, ack(4), kStart + 5ms, events);
  stream.on_ack(1, ack(2, {{3, 4}}), kStart + 5ms, events);
  EXPECT_EQ(stream.forward_sequence(), 0u) << "position 2 has acknowledged nothing";
  EXPECT_EQ(stream.pending_for(0), 0u);
  EXPECT_EQ(stream.pending_for(1), 1u);
  EXPECT_EQ(stream.pending_for(2), 4u);
  stream.on_ack(2, ack(3), kStart + 6ms, events);
  EXPECT_EQ(stream.forward_sequence(), 2u) << "position 1 still misses sequence 2";
  // Loss detection is per receiver: position 1 misses 2, has acked 3, largest is 3 (< threshold).
  events.now = kStart + 6ms;
  stream.detect_losses(1, kStart + 6ms, 1ms, events);
  EXPECT_TRUE(events.retransmitted.empty());
  // The timer retransmits to the receivers that are missing packets only.
  events.now = kStart + 1s;
  auto timed_out = stream.on_timer(kStart + 1s, [](int) { return Duration(100ms); }, events);
  EXPECT_EQ(timed_out, (std::vector<int>{1, 2}));
  ASSERT_EQ(events.retransmitted.size(), 2u);
  EXPECT_EQ(events.retransmitted[0].member, 5);
  EXPECT_EQ(events.retransmitted[0].message_id, 2u);
  EXPECT_EQ(events.retransmitted[1].member, 9);
  EXPECT_EQ(events.retransmitted[1].message_id, 3u);
  // Member 9 goes down: only position 1 holds the window now.
  std::vector<std::uint64_t> abandoned;
  stream.abandon_receiver(2, [&](const SentPacket& p) { abandoned.push_back(p.message_id); });
  EXPECT_EQ(abandoned, (Ids{3}));
  EXPECT_EQ(stream.forward_sequence(), 2u);
  stream.on_ack(1, ack(4), kStart + 1s, events);
  EXPECT_EQ(stream.forward_sequence(), 4u);
  EXPECT_EQ(stream.in_flight(), 0u);
  // Each (packet, member) acknowledgement was reported once, with the member's index.
  int by_member[10] = {};
  for (const auto& a : events.acked) ++by_member[a.member];
  EXPECT_EQ(by_member[2], 4);
  EXPECT_EQ(by_member[5], 4);
  EXPECT_EQ(by_member[9], 3);
}

// BUG (engine/src/core/send_stream.cpp, SendStream::on_timer): expiry is checked against
// packet.last_sent, which the retransmission to the first receiver refreshes (the channel core's
// on_retransmit sets last_sent = now, as this test's Recorder does). A packet that timed out for
// several receivers of a group stream is then retransmitted only to the first of them; the others
// get nothing and are not reported as timed out (no RTO backoff) until the first one acknowledges.
TEST(SendStream, GroupTimerRetransmitsToEveryReceiverMissingThePacket) {
  SendStream stream(1, {2, 5, 9}, 0);
  Recorder events;
  send_n(stream, 1, 0b111);
  events.now = kStart + 10ms;
  const auto timed_out = stream.on_timer(kStart + 10ms, [](int) { return Duration(10ms); }, events);
  EXPECT_EQ(timed_out, (std::vector<int>{0, 1, 2}));
  std::vector<int> members;
  for (const auto& r : events.retransmitted) members.push_back(r.member);
  EXPECT_EQ(members, (std::vector<int>{2, 5, 9})) << "every receiver that misses the packet needs a copy";
}

TEST(SendStream, PacketDoneOnceEveryReceiverAcknowledged) {
  SendStream stream(1, {2, 5}, 0);
  Recorder events;
  send_n(stream, 2, 0b11);  // sent at +0, +1 ms
  stream.on_ack(0, ack(2), kStart + 4ms, events);
  EXPECT_TRUE(events.done.empty()) << "position 1 has not acknowledged";
  stream.on_ack(1, ack(0, {{1, 2}}), kStart + 5ms, events);
  ASSERT_EQ(events.done.size(), 1u);
  EXPECT_EQ(events.done[0].message_id, 1u);
  ASSERT_TRUE(events.done[0].rtt);
  EXPECT_EQ(*events.done[0].rtt, 4ms);  // the completing ack's sample: +5 - +1
  stream.on_ack(1, ack(2), kStart + 6ms, events);
  ASSERT_EQ(events.done.size(), 2u);
  EXPECT_EQ(events.done[1].message_id, 0u);
  EXPECT_FALSE(events.done[1].rtt) << "not the largest newly acknowledged packet";
  stream.on_ack(1, ack(2), kStart + 7ms, events);
  EXPECT_EQ(events.done.size(), 2u) << "reported once";
}

TEST(SendStream, AckFromAnUnknownPositionIsIgnored) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 2);
  stream.on_ack(1, ack(2), kStart, events);
  stream.on_ack(-1, ack(2), kStart, events);
  EXPECT_TRUE(events.acked.empty());
  EXPECT_EQ(stream.in_flight(), 2u);
}

}  // namespace
}  // namespace tmc::core
