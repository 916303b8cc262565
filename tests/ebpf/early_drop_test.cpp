// Early drop (ebpf/bpf/early_drop.bpf.c) through bpf_prog_test_run with packet fixtures.
#include "tmc/bpf/early_drop.h"

#include <gtest/gtest.h>

#include "bpf_test_support.h"

namespace tmc::bpf::test {
namespace {

class EarlyDropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TMC_REQUIRE_BPF();
    loader_ = std::make_unique<EarlyDropLoader>();
  }
  uint32_t run(uint64_t sequence, uint32_t epoch = 1, uint32_t sender = 1, uint16_t flags = TMC_FLAG_DROP_STALE,
               uint32_t fragment_index = 0, uint32_t fragment_count = 1) {
    TmcHeader header;
    header.channel_id = kChannel;
    header.flags = flags;
    header.sequence = sequence;
    header.epoch = epoch;
    header.sender_id = sender;
    header.fragment_index = fragment_index;
    header.fragment_count = fragment_count;
    Bytes frame = tmc_frame(header);
    auto result = run_tc(loader_->program_fd(), frame);
    if (result.retval == kPass) {
      EXPECT_EQ(result.output, frame) << "a passed packet is untouched";
    }
    return result.retval;
  }
  static constexpr uint32_t kChannel = 11;
  std::unique_ptr<EarlyDropLoader> loader_;
};

TEST_F(EarlyDropTest, DropsDuplicatesAndStalePackets) {
  EXPECT_EQ(run(5), kPass);
  EXPECT_EQ(run(5), kDrop) << "duplicate";
  EXPECT_EQ(run(4), kDrop) << "older than the newest";
  EXPECT_EQ(run(6), kPass);
  EXPECT_EQ(run(9), kPass) << "gaps are fine for drop-stale";
  EXPECT_EQ(run(7), kDrop) << "late";
  auto counters = loader_->counters(kChannel);
  EXPECT_EQ(counters.passed, 3u);
  EXPECT_EQ(counters.duplicates, 1u);
  EXPECT_EQ(counters.stale, 2u);
}

TEST_F(EarlyDropTest, SendersAreIndependent) {
  EXPECT_EQ(run(5, 1, /*sender=*/1), kPass);
  EXPECT_EQ(run(5, 1, /*sender=*/2), kPass);
  EXPECT_EQ(run(3, 1, /*sender=*/3), kPass);
  EXPECT_EQ(run(5, 1, /*sender=*/2), kDrop);
}

TEST_F(EarlyDropTest, ANewEpochResetsTheSenderAndOldEpochsAreStale) {
  EXPECT_EQ(run(100, /*epoch=*/1), kPass);
  EXPECT_EQ(run(1, /*epoch=*/2), kPass) << "sender restarted";
  EXPECT_EQ(run(2, /*epoch=*/2), kPass);
  EXPECT_EQ(run(101, /*epoch=*/1), kDrop) << "from the previous incarnation";
  EXPECT_EQ(loader_->counters(kChannel).stale, 1u);
}

TEST_F(EarlyDropTest, FragmentsOfTheNewestMessageMayArriveInAnyOrder) {
  // Message of 3 fragments at sequences 10, 11, 12.
  EXPECT_EQ(run(11, 1, 1, TMC_FLAG_DROP_STALE, 1, 3), kPass);
  EXPECT_EQ(run(10, 1, 1, TMC_FLAG_DROP_STALE, 0, 3), kPass);
  EXPECT_EQ(run(11, 1, 1, TMC_FLAG_DROP_STALE, 1, 3), kDrop) << "duplicate fragment";
  EXPECT_EQ(run(12, 1, 1, TMC_FLAG_DROP_STALE, 2, 3), kPass);
  EXPECT_EQ(run(13, 1, 1, TMC_FLAG_DROP_STALE, 0, 1), kPass) << "next message";
  EXPECT_EQ(run(12, 1, 1, TMC_FLAG_DROP_STALE, 2, 3), kDrop) << "fragment of an older message";
  auto counters = loader_->counters(kChannel);
  EXPECT_EQ(counters.duplicates, 1u);
  EXPECT_EQ(counters.stale, 1u);
}

TEST_F(EarlyDropTest, OnlyDropStaleDataIsJudged) {
  EXPECT_EQ(run(5, 1, 1, /*flags=*/0), kPass);
  EXPECT_EQ(run(5, 1, 1, /*flags=*/0), kPass) << "reliable/ordered channels keep duplicates for user space";
  TmcHeader ack;
  ack.type = TMC_TYPE_ACK;
  ack.channel_id = kChannel;
  Bytes frame = tmc_frame(ack);
  EXPECT_EQ(run_tc(loader_->program_fd(), frame).retval, kPass);
  EXPECT_EQ(run_tc(loader_->program_fd(), frame).retval, kPass);
  Bytes plain = udp_frame(kSender, kReceiver, Bytes(40, 0x11));
  auto result = run_tc(loader_->program_fd(), plain);
  EXPECT_EQ(result.retval, kPass);
  EXPECT_EQ(result.output, plain);
  auto counters = loader_->counters(kChannel);
  EXPECT_EQ(counters.passed + counters.duplicates + counters.stale, 0u);
}

TEST_F(EarlyDropTest, MalformedPacketsGoToUserSpace) {
  TmcHeader bad;
  bad.channel_id = kChannel;
  bad.flags = TMC_FLAG_DROP_STALE | 0x4000;
  Bytes frame = tmc_frame(bad);
  EXPECT_EQ(run_tc(loader_->program_fd(), frame).retval, kPass);
  EXPECT_EQ(run_tc(loader_->program_fd(), frame).retval, kPass) << "never judged as a duplicate";
  EXPECT_EQ(loader_->counters(kChannel).malformed, 2u);
}

TEST_F(EarlyDropTest, GroSuperPacketsAreNeverJudgedByTheirFirstSegment) {
  EXPECT_EQ(run(5), kPass);
  TmcHeader header;
  header.channel_id = kChannel;
  header.flags = TMC_FLAG_DROP_STALE;
  header.sequence = 5;  // first segment is a duplicate, the second might not be
  Bytes one = tmc_payload(header);
  Bytes both = one;
  both.insert(both.end(), one.begin(), one.end());
  __sk_buff context{};
  context.gso_segs = 2;
  context.gso_size = static_cast<uint32_t>(one.size());
  EXPECT_EQ(run_tc(loader_->program_fd(), udp_frame(kSender, kReceiver, both), 1, context).retval, kPass);
}

TEST_F(EarlyDropTest, ForgetChannelStartsOver) {
  EXPECT_EQ(run(5), kPass);
  loader_->forget_channel(kChannel);
  EXPECT_EQ(run(5), kPass);
  EXPECT_EQ(run(5), kDrop);
}

TEST_F(EarlyDropTest, Ipv6DuplicatesAndStalePacketsAreDroppedToo) {
  auto run6 = [&](uint64_t sequence, const Ipv6Layout& layout = {}) {
    TmcHeader header;
    header.channel_id = kChannel;
    header.flags = TMC_FLAG_DROP_STALE;
    header.sequence = sequence;
    header.sender_id = 77;
    const Bytes frame = tmc6_frame(header, layout);
    auto result = run_tc(loader_->program_fd(), frame);
    if (result.retval == kPass) {
      EXPECT_EQ(result.output, frame);
    }
    return result.retval;
  };
  Ipv6Layout options;
  options.extensions = {kHopByHop, kDestinationOptions};
  EXPECT_EQ(run6(5), kPass);
  EXPECT_EQ(run6(5), kDrop) << "duplicate";
  EXPECT_EQ(run6(5, options), kDrop) << "the same packet behind extension headers";
  EXPECT_EQ(run6(4), kDrop) << "stale";
  EXPECT_EQ(run6(6, options), kPass);
  // A truncated copy of the next packet is passed unjudged and does not poison the state.
  TmcHeader header;
  header.channel_id = kChannel;
  header.flags = TMC_FLAG_DROP_STALE;
  header.sequence = 7;
  header.sender_id = 77;
  const Bytes full = tmc6_frame(header);
  EXPECT_EQ(run_tc(loader_->program_fd(), Bytes(full.begin(), full.end() - 4)).retval, kPass);
  EXPECT_EQ(run6(7), kPass) << "the whole packet after its truncated copy";
  auto counters = loader_->counters(kChannel);
  EXPECT_EQ(counters.duplicates, 2u);
  EXPECT_EQ(counters.stale, 1u);
}

}  // namespace
}  // namespace tmc::bpf::test
