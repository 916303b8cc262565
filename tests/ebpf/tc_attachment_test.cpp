// TcAttachment lifetime rules on a real interface (a netns host): re-attaching keeps one
// filter, a loader never removes a filter that replaced its own, an attach error leaves
// nothing behind, and a released filter outlives its loader.
#include "tmc/bpf/tc_attachment.h"

#include <gtest/gtest.h>
#include <net/if.h>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/classifier.h"
#include "tmc/bpf/loss_injector.h"

namespace tmc::bpf::test {
namespace {

class TcAttachmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TMC_REQUIRE_BPF();
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    bed_ = std::make_unique<Testbed>(1);
    inside_ = std::make_unique<InNetns>(bed_->host(0));
    eth0_ = static_cast<int>(if_nametoindex("eth0"));
  }
  void TearDown() override {
    inside_.reset();
    bed_.reset();
  }
  uint32_t loss_program() const {
    return TcAttachment::program_id_at(eth0_, Direction::ingress, kLossPriority, kTcHandle);
  }
  std::unique_ptr<Testbed> bed_;
  std::unique_ptr<InNetns> inside_;
  int eth0_ = 0;
};

TEST_F(TcAttachmentTest, ReattachingTheSameLoaderKeepsItAttached) {
  LossInjector loss{LossConfig{}};
  loss.attach(eth0_);
  uint32_t id = loss_program();
  EXPECT_NE(id, 0u);
  loss.attach(eth0_);
  EXPECT_EQ(loss_program(), id);
  loss.detach();
  EXPECT_EQ(loss_program(), 0u);
}

TEST_F(TcAttachmentTest, AReplacedFilterIsNotRemovedByTheOldLoader) {
  auto first = std::make_unique<LossInjector>(LossConfig{});
  first->attach(eth0_);
  LossInjector second{LossConfig{}};
  second.attach(eth0_);  // replaces first's filter at the same place
  uint32_t second_id = loss_program();
  first.reset();
  EXPECT_EQ(loss_program(), second_id) << "the first loader left the second's filter alone";
}

TEST_F(TcAttachmentTest, ReleasedFiltersOutliveTheLoaderAndCanBeDetachedLater) {
  {
    LossInjector loss{LossConfig{}};
    loss.attach(eth0_);
    loss.keep_attached();
  }
  EXPECT_NE(loss_program(), 0u);
  EXPECT_EQ(LossInjector::stats_of(eth0_).seen, 0u);
  LossInjector::detach_from(eth0_);
  EXPECT_EQ(loss_program(), 0u);
  EXPECT_THROW(LossInjector::detach_from(eth0_), Error);
}

TEST_F(TcAttachmentTest, AttachErrorsAreClearAndLeaveNothing) {
  ClassifierLoader classifier;
  try {
    classifier.attach(9999);  // no such interface
    ADD_FAILURE() << "attached to a missing interface";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("ifindex 9999"), std::string::npos) << error.what();
  }
  classifier.attach(eth0_);
  EXPECT_NE(TcAttachment::program_id_at(eth0_, Direction::egress, kClassifyPriority, kTcHandle), 0u);
  EXPECT_THROW(ClassifierLoader::counters_on(9999), Error);
  classifier.detach();
  EXPECT_EQ(TcAttachment::program_id_at(eth0_, Direction::ingress, kClassifyPriority, kTcHandle), 0u);
  EXPECT_EQ(TcAttachment::program_id_at(eth0_, Direction::egress, kClassifyPriority, kTcHandle), 0u);
}

}  // namespace
}  // namespace tmc::bpf::test
