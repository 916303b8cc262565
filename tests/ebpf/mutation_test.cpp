// Robustness: thousands of randomly mutated and truncated TMC frames through every program
// (bpf_prog_test_run). Each run must succeed with a pass or drop verdict, the classifier and
// early drop must never modify a frame, and malformed packets are never counted as valid.
// (The kernel's verifier already proves memory safety; this checks the verdict logic on
// garbage. Seeded, so a failure reproduces.)
#include <gtest/gtest.h>

#include <random>

#include "bpf_test_support.h"
#include "tmc/bpf/classifier.h"
#include "tmc/bpf/early_drop.h"
#include "tmc/bpf/fanout.h"
#include "tmc/bpf/loss_injector.h"

namespace tmc::bpf::test {
namespace {

Bytes mutate(std::mt19937& random, Bytes frame) {
  int edits = 1 + random() % 4;
  for (int e = 0; e < edits && frame.size() > kEthernetLength + 1; e++) {
    const size_t after_ethernet = frame.size() - kEthernetLength;
    switch (random() % 3) {
      case 0:  // flip a byte anywhere after the Ethernet header
        frame[kEthernetLength + random() % after_ethernet] ^= static_cast<uint8_t>(1 + random() % 255);
        break;
      case 1:  // overwrite a TMC header byte (when the frame still has it)
        if (frame.size() >= kPayloadOffset + TMC_DATA_HEADER_SIZE)
          frame[kPayloadOffset + random() % TMC_DATA_HEADER_SIZE] = static_cast<uint8_t>(random());
        break;
      case 2:  // truncate
        frame.resize(kEthernetLength + random() % after_ethernet);
        break;
    }
  }
  return frame;
}

TEST(MutationTest, GarbageNeverBreaksAProgram) {
  TMC_REQUIRE_BPF();
  ClassifierLoader classifier;
  EarlyDropLoader early_drop;
  FanoutLoader fanout;  // no members registered: must pass everything untouched
  LossInjector loss(LossConfig{});
  std::mt19937 random(20261123);
  constexpr int kFrames = 3000;
  int sequence = 0;
  for (int i = 0; i < kFrames; i++) {
    TmcHeader header;
    header.channel_id = 1 + random() % 4;
    header.sequence = ++sequence;
    header.flags = TMC_FLAG_DROP_STALE;
    header.type = static_cast<uint8_t>(1 + random() % TMC_TYPE_MAX);
    Bytes frame = mutate(random, tmc_frame(header));
    // bpf_prog_test_run refuses an IPv4 frame shorter than its IP header (EINVAL).
    if (frame.size() < kEthernetLength + kIpv4Length) continue;
    for (int fd : {classifier.program_fd(Direction::ingress), classifier.program_fd(Direction::egress),
                   early_drop.program_fd(), fanout.program_fd(), loss.program_fd()}) {
      auto result = run_tc(fd, frame);
      ASSERT_TRUE(result.retval == kPass || result.retval == kDrop)
          << "frame " << i << " size " << frame.size() << " verdict " << result.retval;
      if (fd != early_drop.program_fd()) {
        ASSERT_EQ(result.retval, kPass) << "frame " << i;
      }
      if (result.retval == kPass) {
        ASSERT_EQ(result.output, frame) << "frame " << i;
      }
    }
  }
  // Valid + malformed accounts for every frame that kept the magic; nothing is lost track of.
  uint64_t counted = 0;
  for (const auto& [channel, counters] : classifier.all_counters())
    counted += counters.ingress.packets + counters.ingress.malformed;
  EXPECT_GT(counted, 0u);
  EXPECT_LE(counted, uint64_t(kFrames));
}

}  // namespace
}  // namespace tmc::bpf::test
