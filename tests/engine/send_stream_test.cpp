// core/send_stream: window accounting, cumulative + SACK acknowledgement, Karn's algorithm and
// ack-delay adjusted samples, RFC 9002 6.1 packet- and time-threshold loss detection (also of a
// retransmission, relative to itself), the probe timeout (at most two probes, no loss declared,
// no spurious retransmission for a late ack), persistent congestion, abandonment moving the
// forward sequence, and a group stream with several receivers. Mock time throughout.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <vector>

#include "core/send_stream.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = TimePoint(std::chrono::seconds(100));

// Records what the stream reports (the stream itself stamps each copy it asks for).
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
  std::vector<Retransmitted> retransmitted;  // loss retransmissions and probes
  std::vector<Retransmitted> probed;         // probes only
  std::vector<int> persistent;               // on_persistent_congestion members
  std::vector<Acked> done;  // on_packet_done: every receiver acknowledged (member unused: -1)
  TimePoint now = kStart;

  void on_acked(const SentPacket& packet, int member, const Duration* rtt) override {
    acked.push_back({packet.message_id, member, rtt ? std::optional<Duration>(*rtt) : std::nullopt});
  }
  void on_packet_done(const SentPacket& packet, const Duration* rtt) override {
    done.push_back({packet.message_id, -1, rtt ? std::optional<Duration>(*rtt) : std::nullopt});
  }
  void on_retransmit(SentPacket& packet, int member) override { retransmitted.push_back({packet.message_id, member}); }
  void on_probe(SentPacket& packet, int member) override {
    probed.push_back({packet.message_id, member});
    retransmitted.push_back({packet.message_id, member});
  }
  void on_persistent_congestion(int member) override { persistent.push_back(member); }
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

// Timing with the given probe timeout (and time threshold, persistent congestion duration).
std::function<SendStream::Timing(int)> pto(Duration timeout, Duration threshold = 1ms,
                                           Duration persistent = Duration::max()) {
  return [=](int) { return SendStream::Timing{threshold, timeout, persistent}; };
}

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
  stream.on_timer(kStart + 10s, pto(1ms), events);
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
  auto timed_out = stream.on_timer(kStart + 5ms, pto(5ms), events);
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
  stream.detect_losses(0, kStart + 10ms, 100ms, events);  // time threshold far away
  EXPECT_TRUE(events.retransmitted.empty());
  // 3 acknowledged: three later packets, 0 is lost.
  stream.on_ack(0, ack(0, {{1, 4}}), kStart + 11ms, events);
  events.now = kStart + 11ms;
  stream.detect_losses(0, kStart + 11ms, 100ms, events);  // time threshold far away
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0}));
}

TEST(SendStream, PacketThresholdCountsSequencesNotAcks) {
  // Only 5 is acknowledged: 0, 1 and 2 are three or more below it (lost); 3 and 4 are not.
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 6);
  stream.on_ack(0, ack(0, {{5, 6}}), kStart + 10ms, events);
  events.now = kStart + 10ms;
  stream.detect_losses(0, kStart + 10ms, 100ms, events);  // time threshold far away
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 1, 2}));
}

// RFC 9002 6.1 applied to a retransmission: it is lost again only on evidence about packets
// sent after it, never on a clock of its own while nothing newer is acknowledged.
TEST(SendStream, RetransmissionIsJudgedRelativeToItself) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 5);  // 0..4 at +0..+4 ms
  stream.on_ack(0, ack(0, {{1, 5}}), kStart + 10ms, events);
  stream.detect_losses(0, kStart + 10ms, 2ms, events);
  ASSERT_EQ(events.retransmitted_ids(), (Ids{0}));
  // More acks of old packets, long after: the retransmission is not judged again.
  stream.on_ack(0, ack(0, {{1, 5}}), kStart + 50ms, events);
  EXPECT_EQ(stream.detect_losses(0, kStart + 50ms, 2ms, events), kNever);
  EXPECT_EQ(events.retransmitted.size(), 1u);
  // Three packets sent after the retransmission are acknowledged: it is lost again.
  send_n(stream, 3, 1, kStart + 51ms);  // 5..7
  stream.on_ack(0, ack(0, {{1, 8}}), kStart + 60ms, events);
  stream.detect_losses(0, kStart + 60ms, 100ms, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 0}));
}

// RFC 9002 6.1.2: one later packet acknowledged is not enough for the packet threshold; the
// packet is lost once the time threshold has passed since it was sent, and detect_losses says when.
TEST(SendStream, TimeThresholdDeclaresLossAndSetsTheLossTime) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 2);  // 0 at +0, 1 at +1 ms
  stream.on_ack(0, ack(0, {{1, 2}}), kStart + 2ms, events);
  EXPECT_EQ(stream.detect_losses(0, kStart + 2ms, 5ms, events), kStart + 5ms);
  EXPECT_TRUE(events.retransmitted.empty());
  EXPECT_EQ(stream.next_timeout(pto(100ms, 5ms)), kStart + 5ms) << "the loss time replaces the PTO";
  EXPECT_TRUE(stream.on_timer(kStart + 4ms, pto(100ms, 5ms), events).empty());
  EXPECT_TRUE(events.retransmitted.empty());
  EXPECT_TRUE(stream.on_timer(kStart + 5ms, pto(100ms, 5ms), events).empty()) << "a loss timer is no PTO";
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0}));
  EXPECT_TRUE(events.probed.empty());
  EXPECT_EQ(stream.loss_time(0), kNever);
  EXPECT_EQ(stream.next_timeout(pto(100ms, 5ms)), kStart + 105ms) << "PTO from the retransmission";
}

TEST(SendStream, NoLossDetectionWithoutAcknowledgements) {
  SendStream stream(0, {0}, 1000);
  Recorder events;
  send_n(stream, 10);
  EXPECT_EQ(stream.detect_losses(0, kStart + 1s, 1ms, events), kNever);
  EXPECT_TRUE(events.retransmitted.empty());
}

// The probe timeout runs from the latest transmission to the receiver (RFC 9002 6.2.1) and
// sends at most two probes, the oldest packets, declaring nothing lost (6.2.4).
TEST(SendStream, ProbeTimeoutSendsAtMostTwoProbes) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 10);  // last sent at +9 ms
  EXPECT_EQ(stream.next_timeout(pto(10ms)), kStart + 19ms);
  EXPECT_TRUE(stream.on_timer(kStart + 18ms, pto(10ms), events).empty());
  EXPECT_TRUE(events.retransmitted.empty());
  EXPECT_EQ(stream.on_timer(kStart + 19ms, pto(10ms), events), (std::vector<int>{0}));
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 1}));
  EXPECT_EQ(events.probed.size(), 2u) << "probes, not declared losses";
  // The next probe timeout runs from the probes; a backed-off timeout (the caller's) is honoured.
  EXPECT_EQ(stream.next_timeout(pto(20ms)), kStart + 39ms);
  EXPECT_TRUE(stream.on_timer(kStart + 38ms, pto(20ms), events).empty());
  EXPECT_EQ(stream.on_timer(kStart + 39ms, pto(20ms), events), (std::vector<int>{0}));
  EXPECT_EQ(events.retransmitted_ids(), (Ids{0, 1, 0, 1})) << "still the oldest two";
  stream.on_ack(0, ack(10), kStart + 40ms, events);
  EXPECT_EQ(stream.next_timeout(pto(10ms)), kNever);
}

// The receiver was descheduled: its acknowledgement arrives much later than the RTT, but before
// the probe timeout. Nothing is retransmitted.
TEST(SendStream, LateAckBeforeTheProbeTimeoutRetransmitsNothing) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 1);
  stream.on_ack(0, ack(1), kStart + 100us, events);  // RTT 100 us
  send_n(stream, 20, 1, kStart + 1ms);              // 1..20 at +1..+20 ms
  EXPECT_TRUE(stream.on_timer(kStart + 29ms, pto(10ms), events).empty());
  // The first ack after the stall covers only part of what was sent.
  stream.on_ack(0, ack(9), kStart + 29ms, events);
  EXPECT_EQ(stream.detect_losses(0, kStart + 29ms, 1ms, events), kNever);
  stream.on_ack(0, ack(21), kStart + 29500us, events);
  stream.detect_losses(0, kStart + 29500us, 1ms, events);
  EXPECT_TRUE(events.retransmitted.empty());
  EXPECT_EQ(stream.next_timeout(pto(10ms)), kNever);
}

// The stall outlasts the probe timeout: two probes go out, and the acknowledgement of the
// originals (which arrive before the probes) condemns none of the packets queued behind them.
TEST(SendStream, StallPastTheProbeTimeoutCostsTwoProbesNotTheWindow) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 1);
  stream.on_ack(0, ack(1), kStart + 100us, events);
  send_n(stream, 40, 1, kStart + 1ms);  // 1..40 at +1..+40 ms
  EXPECT_EQ(stream.on_timer(kStart + 41ms, pto(1ms), events), (std::vector<int>{0}));
  EXPECT_EQ(events.retransmitted_ids(), (Ids{1, 2}));
  // The receiver wakes up and acknowledges in batches of 8.
  for (std::uint64_t cumulative = 9; cumulative <= 41; cumulative += 8) {
    const TimePoint at = kStart + 45ms + std::chrono::microseconds(cumulative);
    stream.on_ack(0, ack(std::min<std::uint64_t>(cumulative, 41)), at, events);
    stream.detect_losses(0, at, 1ms, events);
  }
  stream.on_ack(0, ack(41), kStart + 46ms, events);
  EXPECT_EQ(events.retransmitted.size(), 2u) << "only the two probes";
  EXPECT_EQ(stream.in_flight(), 0u);
}

// A probe's acknowledgement is evidence about the packets sent before the probe: a hole below
// it is lost by the packet threshold, so recovery does not wait for one timer per packet.
TEST(SendStream, ProbeAcknowledgementDrivesLossDetectionOfHoles) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 1);
  stream.on_ack(0, ack(1), kStart + 100us, events);  // min RTT 100 us
  send_n(stream, 8, 1, kStart + 1ms);                 // 1..8 at +1..+8 ms; 1..5 are lost
  stream.on_ack(0, ack(1, {{6, 9}}), kStart + 9ms, events);
  stream.detect_losses(0, kStart + 9ms, 100ms, events);  // lost by the packet threshold
  EXPECT_EQ(events.retransmitted_ids(), (Ids{1, 2, 3, 4, 5}));
  // The retransmissions are lost too; a probe timeout sends the oldest two again.
  events.retransmitted.clear();
  EXPECT_EQ(stream.on_timer(kStart + 20ms, pto(5ms, 5ms), events), (std::vector<int>{0}));
  EXPECT_EQ(events.retransmitted_ids(), (Ids{1, 2}));
  // Only the probes get through: their ack condemns the retransmissions of 3..5, sent before
  // them (3 and 4 by the packet threshold, 5 by the time threshold).
  stream.on_ack(0, ack(3, {{6, 9}}), kStart + 21ms, events);
  stream.detect_losses(0, kStart + 21ms, 5ms, events);
  EXPECT_EQ(events.retransmitted_ids(), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(events.probed.size(), 2u);
  stream.on_ack(0, ack(9), kStart + 22ms, events);
  EXPECT_EQ(stream.in_flight(), 0u);
}

// RFC 9002 7.6.2: packets lost over more than the persistent congestion duration, with nothing
// acknowledged between them, are persistent congestion; a shorter span is not.
TEST(SendStream, PersistentCongestionNeedsTheWholeSpanLost) {
  SendStream stream(0, {4}, 0);
  Recorder events;
  send_n(stream, 1);
  stream.on_ack(0, ack(1), kStart + 100us, events);  // an RTT sample first
  send_n(stream, 10, 1, kStart + 1ms);               // 1..10 at +1..+10 ms
  stream.on_ack(0, ack(1, {{10, 11}}), kStart + 11ms, events);
  stream.detect_losses(0, kStart + 11ms, 100ms, events, 5ms);  // 1..7 lost: 6 ms span
  EXPECT_EQ(events.persistent, (std::vector<int>{4}));

  SendStream other(0, {4}, 0);
  Recorder second;
  send_n(other, 1);
  other.on_ack(0, ack(1), kStart + 100us, second);
  send_n(other, 10, 1, kStart + 1ms);
  // 4 arrived: the lost runs are 1..3 and 5..7, 2 ms each.
  other.on_ack(0, ack(1, {{4, 5}, {10, 11}}), kStart + 11ms, second);
  other.detect_losses(0, kStart + 11ms, 100ms, second, 5ms);
  EXPECT_EQ(second.retransmitted_ids(), (Ids{1, 2, 3, 5, 6, 7}));
  EXPECT_TRUE(second.persistent.empty());
}

// RFC 9002 5.3: the receiver's reported ack delay is taken off the sample, unless the result
// would be below the minimum RTT.
TEST(SendStream, RttSampleExcludesTheReportedAckDelay) {
  SendStream stream(0, {0}, 0);
  Recorder events;
  send_n(stream, 1);
  stream.on_ack(0, ack(1), kStart + 100us, events);  // min RTT 100 us
  send_n(stream, 1, 1, kStart + 1ms);
  wire::AckFrame delayed = ack(2);
  delayed.ack_delay_us = 2000;
  stream.on_ack(0, delayed, kStart + 3200us, events);
  ASSERT_TRUE(events.acked.back().rtt);
  EXPECT_EQ(*events.acked.back().rtt, 200us);
  send_n(stream, 1, 1, kStart + 4ms);
  delayed = ack(3);
  delayed.ack_delay_us = 550;  // 600 - 550 < min RTT: not adjusted
  stream.on_ack(0, delayed, kStart + 4600us, events);
  EXPECT_EQ(*events.acked.back().rtt, 600us);
  EXPECT_EQ(stream.min_rtt(0), 100us);
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
  EXPECT_EQ(stream.next_timeout(pto(1ms)), kNever);
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
  stream.on_timer(kStart + 1s, pto(1ms), events);
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
  EXPECT_EQ(stream.detect_losses(1, kStart + 6ms, 10ms, events), kStart + 12ms);
  EXPECT_TRUE(events.retransmitted.empty());
  // Timers act for the receivers that are missing packets only: position 1's loss time
  // (a declared loss, no PTO), position 2's probe timeout.
  events.now = kStart + 1s;
  auto timed_out = stream.on_timer(kStart + 1s, pto(100ms, 10ms), events);
  EXPECT_EQ(timed_out, (std::vector<int>{2}));
  EXPECT_EQ(events.probed.size(), 1u);
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

// The probe timeout is per receiver (its own latest transmission): a probe to the first one
// must not hide the timeout of the others.
TEST(SendStream, GroupTimerRetransmitsToEveryReceiverMissingThePacket) {
  SendStream stream(1, {2, 5, 9}, 0);
  Recorder events;
  send_n(stream, 1, 0b111);
  events.now = kStart + 10ms;
  const auto timed_out = stream.on_timer(kStart + 10ms, pto(10ms), events);
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
