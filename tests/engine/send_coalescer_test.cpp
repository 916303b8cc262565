// transport/send_coalescer: a lone send goes out at once; sends that follow each other within
// the window are coalesced onto one requested flush; a flush ends the run; sends on the
// flushing thread are always coalesced.
#include <gtest/gtest.h>

#include "transport/send_coalescer.h"

namespace tmc::transport {
namespace {

using namespace std::chrono_literals;
using Action = SendCoalescer::Action;

const core::TimePoint t0 = core::TimePoint{} + 1s;

TEST(SendCoalescer, FirstSendGoesOutAtOnce) {
  SendCoalescer coalescer(5us);
  EXPECT_EQ(coalescer.on_send(t0), Action::send_now);
  EXPECT_FALSE(coalescer.flush_requested());
}

TEST(SendCoalescer, SendsSpacedWiderThanTheWindowAllGoOutAtOnce) {
  // Request/response: one round trip between sends.
  SendCoalescer coalescer(5us);
  core::TimePoint now = t0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(coalescer.on_send(now), Action::send_now) << i;
    coalescer.sent_directly(now + 2us);  // the send's own sendmmsg took 2 us
    now += 2us + 5us;                    // next send exactly `window` after the previous ended
  }
}

TEST(SendCoalescer, ASendWithinTheWindowRequestsOneFlushAndLaterOnesJoinIt) {
  SendCoalescer coalescer(5us);
  ASSERT_EQ(coalescer.on_send(t0), Action::send_now);
  coalescer.sent_directly(t0 + 3us);
  EXPECT_EQ(coalescer.on_send(t0 + 4us), Action::request_flush);
  EXPECT_TRUE(coalescer.flush_requested());
  // Until the flush, every send joins it, however far apart.
  EXPECT_EQ(coalescer.on_send(t0 + 5us), Action::coalesce);
  EXPECT_EQ(coalescer.on_send(t0 + 1s), Action::coalesce);
  EXPECT_TRUE(coalescer.flush_requested());
}

TEST(SendCoalescer, AStreamKeepsCoalescingAcrossFlushes) {
  SendCoalescer coalescer(5us);
  ASSERT_EQ(coalescer.on_send(t0), Action::send_now);
  coalescer.sent_directly(t0 + 3us);
  core::TimePoint now = t0 + 4us;
  ASSERT_EQ(coalescer.on_send(now), Action::request_flush);
  int requests = 1, sends = 1, flushes = 0;
  for (int i = 0; i < 1000; ++i) {
    now += 1us;
    if (i % 50 == 49) {
      coalescer.flushed(now);  // the runtime flushed
      ++flushes;
      continue;
    }
    const Action action = coalescer.on_send(now);
    ASSERT_NE(action, Action::send_now) << i;
    requests += action == Action::request_flush;
    ++sends;
  }
  // One request per run between flushes: the first, and one after every flush but the last
  // (no send follows it).
  EXPECT_EQ(requests, 1 + flushes - 1);
  EXPECT_GT(sends, 900);
}

TEST(SendCoalescer, APauseAfterAFlushSendsAtOnceAgain) {
  SendCoalescer coalescer(5us);
  coalescer.sent_directly(t0);
  ASSERT_EQ(coalescer.on_send(t0 + 1us), Action::request_flush);
  coalescer.flushed(t0 + 10us);
  EXPECT_FALSE(coalescer.flush_requested());
  EXPECT_EQ(coalescer.on_send(t0 + 10us + 4us), Action::request_flush);  // still streaming
  coalescer.flushed(t0 + 20us);
  EXPECT_EQ(coalescer.on_send(t0 + 20us + 5us), Action::send_now);  // paused for the window
}

TEST(SendCoalescer, LargeSendsGoOutAtOnceUnlessTheyStreamThenTheyCork) {
  SendCoalescer coalescer(5us);
  // The first large send, and one after a pause, go out at once.
  EXPECT_EQ(coalescer.on_send(t0, 16384), Action::send_now);
  coalescer.sent_directly(t0);
  EXPECT_EQ(coalescer.on_send(t0 + 6us, 16384), Action::send_now);
  coalescer.sent_directly(t0 + 6us);
  // Streaming: a large send goes into the kernel's cork; a small one still requests a flush.
  EXPECT_EQ(coalescer.on_send(t0 + 7us, 16384), Action::cork);
  EXPECT_EQ(coalescer.on_send(t0 + 7us, SendCoalescer::kMaxCoalescedBytes), Action::cork);
  EXPECT_EQ(coalescer.on_send(t0 + 7us, SendCoalescer::kMaxCoalescedBytes - 1), Action::request_flush);
  // Once a flush is requested, a large send corks too (the flush pushes the cork first).
  EXPECT_EQ(coalescer.on_send(t0 + 1h, 16384), Action::cork);
}

TEST(SendCoalescer, AnOpenCorkSetsOneDeadlineUntilAFlushPushesIt) {
  SendCoalescer coalescer(5us);
  EXPECT_EQ(coalescer.cork_deadline(), core::kNever);
  EXPECT_TRUE(coalescer.cork_left_open(t0)) << "the first open cork: arm the timer";
  EXPECT_EQ(coalescer.cork_deadline(), t0 + SendCoalescer::kCorkHold);
  EXPECT_FALSE(coalescer.cork_left_open(t0 + 10us)) << "a deadline is pending: its timer is armed";
  EXPECT_EQ(coalescer.cork_deadline(), t0 + SendCoalescer::kCorkHold) << "kept, not moved later";
  // While the deadline is pending a large send corks even after a pause (the cork is open).
  coalescer.sent_directly(t0);
  EXPECT_EQ(coalescer.on_send(t0 + 1h, 16384), Action::cork);
  coalescer.cork_pushed();
  EXPECT_EQ(coalescer.cork_deadline(), core::kNever);
  EXPECT_EQ(coalescer.on_send(t0 + 1h, 16384), Action::send_now);
  EXPECT_TRUE(coalescer.cork_left_open(t0 + 1h));
  EXPECT_EQ(coalescer.cork_deadline(), t0 + 1h + SendCoalescer::kCorkHold);
}

TEST(SendCoalescer, SendsOnTheFlushingThreadAreAlwaysCoalesced) {
  SendCoalescer coalescer(5us);
  EXPECT_EQ(coalescer.on_flushing_thread_send(), Action::request_flush);
  EXPECT_EQ(coalescer.on_flushing_thread_send(), Action::coalesce);
  // An application thread's send while that flush is pending joins it too.
  EXPECT_EQ(coalescer.on_send(t0 + 1h), Action::coalesce);
  coalescer.flushed(t0);
  EXPECT_EQ(coalescer.on_flushing_thread_send(), Action::request_flush);
}

}  // namespace
}  // namespace tmc::transport
