// none, fixed-window, the registry and parameter handling.
#include <gtest/gtest.h>

#include "tmc/congestion.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

TEST(CongestionNone, NoWindowNoPacingButCountsBytesInFlight) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("none", state);
  EXPECT_EQ(controller->name(), "none");
  TimePoint now{};
  for (int i = 0; i < 1000; ++i) controller->on_packet_sent({.now = now, .bytes = 1472});
  EXPECT_TRUE(controller->can_send(1u << 30));
  EXPECT_EQ(state.bytes_in_flight, 1000u * 1472);
  controller->on_loss({.now = now + 1ms, .bytes_lost = 1472});
  controller->on_ack({.now = now + 1ms, .bytes_acked = 998u * 1472, .rtt_sample = 100us});
  controller->on_packet_discarded(1472);
  EXPECT_EQ(state.bytes_in_flight, 0u);
  EXPECT_EQ(state.cwnd_bytes, kUnlimitedWindow);
  EXPECT_EQ(state.pacing_rate_bytes_per_sec, 0);
  EXPECT_EQ(state.smoothed_rtt, 100us);
}

TEST(CongestionFixedWindow, HoldsItsWindowThroughLossAndPacesAtGainTimesWindowOverRtt) {
  TransportState state;
  auto controller = CongestionControllerRegistry::global().create("fixed-window", state, {{"window_bytes", "64KiB"}});
  EXPECT_EQ(state.cwnd_bytes, 65536u);
  TimePoint now{};
  std::uint64_t sent = 0;
  while (controller->can_send(1472)) {
    controller->on_packet_sent({.now = now, .bytes = 1472});
    sent += 1472;
  }
  EXPECT_LE(sent, 65536u);
  EXPECT_GT(sent + 1472, 65536u);
  controller->on_loss({.now = now + 100us, .bytes_lost = 1472, .largest_lost_sent_time = now});
  EXPECT_EQ(state.cwnd_bytes, 65536u);
  EXPECT_TRUE(controller->can_send(1472));  // the lost packet left the flight
  controller->on_ack({.now = now + 100us, .bytes_acked = 1472, .rtt_sample = 100us, .largest_acked_sent_time = now});
  EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 1.25 * 65536 / 100e-6);
}

TEST(CongestionRegistry, UnknownNameListsKnownNames) {
  TransportState state;
  try {
    CongestionControllerRegistry::global().create("cubic", state);
    FAIL() << "expected CongestionConfigError";
  } catch (const CongestionConfigError& error) {
    EXPECT_STREQ(error.what(),
                 "unknown congestion_control algorithm 'cubic' (known: aimd, fixed-window, loss-tolerant, none)");
  }
}

TEST(CongestionRegistry, BuiltinsAreRegisteredAndNamesMatch) {
  for (const std::string name : {"none", "fixed-window", "aimd", "loss-tolerant"}) {
    TransportState state;
    auto controller = CongestionControllerRegistry::global().create(name, state);
    EXPECT_EQ(controller->name(), name);
  }
}

TEST(CongestionRegistry, AddRemoveAndDuplicateRefused) {
  CongestionControllerRegistry registry;
  registry.add_builtins();
  EXPECT_THROW(registry.add("aimd", make_aimd), CongestionConfigError);
  registry.add("my-aimd", make_aimd);
  TransportState state;
  EXPECT_EQ(registry.create("my-aimd", state)->name(), "aimd");
  EXPECT_TRUE(registry.remove("my-aimd"));
  EXPECT_FALSE(registry.contains("my-aimd"));
  EXPECT_THROW(registry.create("my-aimd", state), CongestionConfigError);
}

TEST(CongestionParams, UnknownOrMalformedParametersAreRejectedWithTheKey) {
  TransportState state;
  auto& registry = CongestionControllerRegistry::global();
  try {
    registry.create("aimd", state, {{"windwo", "3"}});
    FAIL();
  } catch (const CongestionConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("unknown parameter 'windwo'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("initial_window_packets"), std::string::npos) << error.what();
  }
  try {
    registry.create("loss-tolerant", state, {{"target_queue_delay", "50"}});
    FAIL();
  } catch (const CongestionConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("'target_queue_delay': duration '50' needs a unit"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(registry.create("fixed-window", state, {{"window_bytes", "12 parsecs"}}), CongestionConfigError);
  EXPECT_THROW(registry.create("fixed-window", state, {{"window_bytes", "100"}}), CongestionConfigError);
  EXPECT_THROW(registry.create("aimd", state, {{"loss_reduction", "1.5"}}), CongestionConfigError);
  EXPECT_THROW(registry.create("none", state, {{"anything", "1"}}), CongestionConfigError);
  EXPECT_NO_THROW(registry.create("loss-tolerant", state, {{"target_queue_delay", "20us"}, {"beta", "0.5"}}));
}

}  // namespace
}  // namespace tmc
