// Classifier (ebpf/bpf/classify.bpf.c) through bpf_prog_test_run with packet fixtures.
#include "tmc/bpf/classifier.h"

#include <gtest/gtest.h>

#include "bpf_test_support.h"

namespace tmc::bpf::test {
namespace {

class ClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TMC_REQUIRE_BPF();
    loader_ = std::make_unique<ClassifierLoader>();
  }
  int ingress() const { return loader_->program_fd(Direction::ingress); }
  int egress() const { return loader_->program_fd(Direction::egress); }
  std::unique_ptr<ClassifierLoader> loader_;
};

TEST_F(ClassifierTest, CountsATmcPacketPerChannelAndDirection) {
  TmcHeader header;
  header.channel_id = 42;
  Bytes frame = tmc_frame(header);
  auto result = run_tc(ingress(), frame);
  EXPECT_EQ(result.retval, kPass);
  EXPECT_EQ(result.output, frame);
  run_tc(ingress(), frame);
  run_tc(egress(), frame);

  ChannelCounters counters = loader_->counters(42);
  EXPECT_EQ(counters.ingress.packets, 2u);
  EXPECT_EQ(counters.ingress.bytes, 2 * frame.size());
  EXPECT_EQ(counters.egress.packets, 1u);
  EXPECT_EQ(counters.egress.bytes, frame.size());
  EXPECT_EQ(counters.ingress.malformed, 0u);
  EXPECT_EQ(loader_->counters(43).ingress.packets, 0u);
  auto all = loader_->all_counters();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.begin()->first, 42u);
}

TEST_F(ClassifierTest, EveryPacketTypeIsRecognised) {
  for (uint8_t type = 1; type <= TMC_TYPE_MAX; type++) {
    TmcHeader header;
    header.type = type;
    header.channel_id = 100 + type;
    EXPECT_EQ(run_tc(ingress(), tmc_frame(header)).retval, kPass);
    EXPECT_EQ(loader_->counters(100 + type).ingress.packets, 1u) << "type " << int(type);
  }
}

TEST_F(ClassifierTest, NonTmcPacketsPassUntouchedAndUncounted) {
  Bytes udp = udp_frame(kSender, kReceiver, Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  Bytes arp = arp_frame();
  for (const Bytes& frame : {udp, arp}) {
    auto in = run_tc(ingress(), frame);
    EXPECT_EQ(in.retval, kPass);
    EXPECT_EQ(in.output, frame);
    auto out = run_tc(egress(), frame);
    EXPECT_EQ(out.retval, kPass);
    EXPECT_EQ(out.output, frame);
  }
  EXPECT_TRUE(loader_->all_counters().empty());
}

TEST_F(ClassifierTest, MalformedHeadersAreCountedAndPassedToUserSpace) {
  std::vector<Bytes> malformed;
  {  // wrong version
    TmcHeader header;
    header.version = 9;
    malformed.push_back(tmc_frame(header));
  }
  {  // unknown type
    TmcHeader header;
    header.type = TMC_TYPE_MAX + 1;
    malformed.push_back(tmc_frame(header));
  }
  {  // unknown flag bit
    TmcHeader header;
    header.flags = 0x8000;
    malformed.push_back(tmc_frame(header));
  }
  {  // header_length + payload_length disagree with the UDP length
    Bytes payload = tmc_payload(TmcHeader{});
    payload.push_back(0);
    malformed.push_back(udp_frame(kSender, kReceiver, payload));
  }
  {  // DATA header_length shorter than the DATA type part
    Bytes payload = tmc_payload(TmcHeader{});
    put16(payload.data() + TMC_OFF_HEADER_LENGTH, TMC_COMMON_HEADER_SIZE);
    put16(payload.data() + TMC_OFF_PAYLOAD_LENGTH, static_cast<uint16_t>(payload.size() - TMC_COMMON_HEADER_SIZE));
    malformed.push_back(udp_frame(kSender, kReceiver, payload));
  }
  {  // fragment index beyond the fragment count
    TmcHeader header;
    header.fragment_index = 3;
    header.fragment_count = 2;
    header.sequence = 10;
    malformed.push_back(tmc_frame(header));
  }
  for (const Bytes& frame : malformed) {
    auto result = run_tc(ingress(), frame);
    EXPECT_EQ(result.retval, kPass);
    EXPECT_EQ(result.output, frame);
  }
  ChannelCounters counters = loader_->counters(7);  // the fixtures' channel
  EXPECT_EQ(counters.ingress.malformed, malformed.size());
  EXPECT_EQ(counters.ingress.packets, 0u);

  // Truncated after the magic: too short to name a channel.
  Bytes stub = {0x54, 0x4D, 1, 1, 0, 0};
  auto result = run_tc(ingress(), udp_frame(kSender, kReceiver, stub));
  EXPECT_EQ(result.retval, kPass);
  EXPECT_EQ(loader_->counters(kUnknownChannel).ingress.malformed, 1u);

  // Every truncation of a valid packet: never a crash, never counted as valid.
  Bytes full = tmc_payload(TmcHeader{});
  for (size_t length = 2; length < full.size(); length++) {
    Bytes cut(full.begin(), full.begin() + length);
    EXPECT_EQ(run_tc(ingress(), udp_frame(kSender, kReceiver, cut)).retval, kPass) << length;
  }
  EXPECT_EQ(loader_->counters(7).ingress.packets, 0u);
}

// A UDP GSO/GRO super-packet: two TMC packets in one skb, the UDP length covering both.
Bytes gso_frame(const TmcHeader& header, __sk_buff* context) {
  Bytes one = tmc_payload(header);
  Bytes two = one;
  two.insert(two.end(), one.begin(), one.end());
  context->gso_segs = 2;
  context->gso_size = static_cast<uint32_t>(one.size());
  return udp_frame(kSender, kReceiver, two);
}

TEST_F(ClassifierTest, CountsEverySegmentOfAGsoPacket) {
  TmcHeader header;
  header.channel_id = 3;
  __sk_buff context{};
  Bytes frame = gso_frame(header, &context);
  auto result = run_tc(egress(), frame, 1, context);
  EXPECT_EQ(result.retval, kPass);
  EXPECT_EQ(loader_->counters(3).egress.packets, 2u);
  EXPECT_EQ(loader_->counters(3).egress.malformed, 0u);
  // The same bytes without GSO metadata: the lengths disagree, so it is malformed.
  run_tc(egress(), frame);
  EXPECT_EQ(loader_->counters(3).egress.malformed, 1u);
}

TEST_F(ClassifierTest, ClassSetsPriorityAndDscpOnEgress) {
  TmcHeader header;
  header.channel_id = 5;
  ChannelClass latency_sensitive;
  latency_sensitive.priority = 6;  // TC_PRIO_INTERACTIVE
  latency_sensitive.dscp = 46;     // EF
  loader_->set_channel_class(5, latency_sensitive);

  Bytes frame = udp_frame(kSender, kReceiver, tmc_payload(header), /*tos=*/0x01 /* ECN ECT(1) */);
  auto result = run_tc(egress(), frame);
  EXPECT_EQ(result.retval, kPass);
  ASSERT_EQ(result.output.size(), frame.size());
  EXPECT_EQ(result.output[kEthernetLength + 1], (46 << 2) | 0x01) << "DSCP set, ECN kept";
  EXPECT_EQ(ipv4_header_checksum(result.output), 0) << "IPv4 checksum updated";
  EXPECT_EQ(udp_checksum(result.output), 0);
  EXPECT_EQ(result.context.priority, 6u);

  // Other channels and ingress are left alone.
  TmcHeader other;
  other.channel_id = 6;
  Bytes other_frame = tmc_frame(other);
  auto untouched = run_tc(egress(), other_frame);
  EXPECT_EQ(untouched.output, other_frame);
  EXPECT_EQ(untouched.context.priority, 0u);
  EXPECT_EQ(run_tc(ingress(), frame).output, frame);

  loader_->clear_channel_class(5);
  EXPECT_EQ(run_tc(egress(), frame).output, frame);
}

TEST_F(ClassifierTest, DropClassDropsAndCounts) {
  ChannelClass blocked;
  blocked.drop = true;
  loader_->set_channel_class(9, blocked);
  TmcHeader header;
  header.channel_id = 9;
  EXPECT_EQ(run_tc(egress(), tmc_frame(header)).retval, kDrop);
  EXPECT_EQ(loader_->counters(9).egress.drops, 1u);
  EXPECT_EQ(loader_->counters(9).egress.packets, 0u);
}

TEST_F(ClassifierTest, RejectsAnOutOfRangeDscp) {
  ChannelClass bad;
  bad.dscp = 64;
  EXPECT_THROW(loader_->set_channel_class(1, bad), Error);
}

}  // namespace
}  // namespace tmc::bpf::test
