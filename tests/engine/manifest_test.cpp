// Manifest::merged_over and the enum spellings.
#include "tmc/manifest.h"

#include <gtest/gtest.h>

// The header invites designated initialisers that leave members at their defaults; -Wextra would
// flag each of them.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using namespace std::chrono_literals;

namespace tmc {
namespace {

Manifest channel_defaults() {
  Manifest defaults;
  defaults.channel = "kv";
  defaults.multicast = Multicast{{{"a", "10.0.0.1:7000"}, {"b", "10.0.0.2:7000"}}, "239.1.2.3:7000"};
  defaults.targets = Targets{};
  defaults.ordering = Ordering::fifo;
  defaults.reliability = Reliability{.kind = Reliability::Kind::all, .min_rto = 1ms};
  defaults.error_checking = ErrorChecking::crc32c;
  defaults.mtu = 1500;
  defaults.pacing = Pacing{.rate_bytes_per_second = 1e6};
  defaults.flow_control = FlowControl{.window_bytes = 1 << 20};
  defaults.congestion_control = CongestionControl{.algorithm = "aimd"};
  defaults.synchronicity = Synchronicity::blocking;
  defaults.duplexity = Duplexity::full;
  defaults.deadline = 50ms;
  return defaults;
}

TEST(ManifestMerge, EmptyOverrideTakesEveryDefault) {
  const Manifest defaults = channel_defaults();
  EXPECT_EQ(Manifest{}.merged_over(defaults), defaults);
}

TEST(ManifestMerge, OverEmptyDefaultsKeepsOverride) {
  const Manifest message = channel_defaults();
  EXPECT_EQ(message.merged_over(Manifest{}), message);
  EXPECT_EQ(Manifest{}.merged_over(Manifest{}), Manifest{});
}

TEST(ManifestMerge, FieldsSetOnTheMessageWin) {
  const Manifest defaults = channel_defaults();
  Manifest message;
  message.targets = Targets{.kind = Targets::Kind::subset, .names = {"a"}};
  message.ordering = Ordering::none;
  message.deadline = 5ms;
  message.mtu = 9000;
  const Manifest merged = message.merged_over(defaults);
  EXPECT_EQ(merged.targets, message.targets);
  EXPECT_EQ(merged.ordering, Ordering::none);
  EXPECT_EQ(merged.deadline, 5ms);
  EXPECT_EQ(merged.mtu, 9000u);
  // Everything else is the channel's.
  EXPECT_EQ(merged.channel, defaults.channel);
  EXPECT_EQ(merged.multicast, defaults.multicast);
  EXPECT_EQ(merged.reliability, defaults.reliability);
  EXPECT_EQ(merged.error_checking, defaults.error_checking);
  EXPECT_EQ(merged.pacing, defaults.pacing);
  EXPECT_EQ(merged.flow_control, defaults.flow_control);
  EXPECT_EQ(merged.congestion_control, defaults.congestion_control);
  EXPECT_EQ(merged.synchronicity, defaults.synchronicity);
  EXPECT_EQ(merged.duplexity, defaults.duplexity);
}

TEST(ManifestMerge, AFeatureIsReplacedWholeNotFieldByField) {
  const Manifest defaults = channel_defaults();  // reliability: all, min_rto 1ms
  Manifest message;
  message.reliability = Reliability{.kind = Reliability::Kind::fraction, .fraction = 0.5};
  const Manifest merged = message.merged_over(defaults);
  EXPECT_EQ(merged.reliability->kind, Reliability::Kind::fraction);
  EXPECT_EQ(merged.reliability->min_rto, Reliability{}.min_rto);  // not the channel's 1ms
}

TEST(ManifestMerge, EachFieldIndividually) {
  // For every field: set only it on the message; the merge takes exactly that field from it.
  const Manifest defaults = channel_defaults();
  Manifest full_override;
  full_override.channel = "other";
  full_override.multicast = Multicast{{{"z", "[::1]:1"}}, ""};
  full_override.targets = Targets{.kind = Targets::Kind::fraction, .fraction = 0.25};
  full_override.ordering = Ordering::total;
  full_override.reliability = Reliability{};
  full_override.error_checking = ErrorChecking::none;
  full_override.mtu = 576;
  full_override.pacing = Pacing{.rate_bytes_per_second = 5};
  full_override.flow_control = FlowControl{.window_bytes = 7};
  full_override.congestion_control = CongestionControl{.algorithm = "loss-tolerant"};
  full_override.synchronicity = Synchronicity::asynchronous;
  full_override.duplexity = Duplexity::receive_only;
  full_override.deadline = 1s;
  full_override.sequencer = "z";
  EXPECT_EQ(full_override.merged_over(defaults), full_override);

#define TMC_CHECK_FIELD(field)                                    \
  {                                                               \
    Manifest message;                                             \
    message.field = full_override.field;                          \
    Manifest expected = defaults;                                 \
    expected.field = full_override.field;                         \
    EXPECT_EQ(message.merged_over(defaults), expected) << #field; \
  }
  TMC_CHECK_FIELD(channel)
  TMC_CHECK_FIELD(multicast)
  TMC_CHECK_FIELD(targets)
  TMC_CHECK_FIELD(ordering)
  TMC_CHECK_FIELD(reliability)
  TMC_CHECK_FIELD(error_checking)
  TMC_CHECK_FIELD(mtu)
  TMC_CHECK_FIELD(pacing)
  TMC_CHECK_FIELD(flow_control)
  TMC_CHECK_FIELD(congestion_control)
  TMC_CHECK_FIELD(synchronicity)
  TMC_CHECK_FIELD(duplexity)
  TMC_CHECK_FIELD(deadline)
  TMC_CHECK_FIELD(sequencer)
#undef TMC_CHECK_FIELD
}

// ordering and ordering_module are one feature: a message that sets ordering takes its own
// ordering_module (none for a built-in ordering) instead of the channel's.
TEST(ManifestMerge, OrderingModuleTravelsWithOrdering) {
  Manifest channel;
  channel.ordering = Ordering::module;
  channel.ordering_module = OrderingModule{.module = "./libx.so", .name = "x", .params = {{"window", "4"}}};
  Manifest message;
  EXPECT_EQ(message.merged_over(channel).ordering_module, channel.ordering_module);
  message.ordering = Ordering::fifo;
  const Manifest fifo = message.merged_over(channel);
  EXPECT_EQ(fifo.ordering, Ordering::fifo);
  EXPECT_FALSE(fifo.ordering_module);
  Manifest other_module;
  other_module.ordering = Ordering::module;
  other_module.ordering_module = OrderingModule{.module = "./liby.so", .name = "y"};
  EXPECT_EQ(other_module.merged_over(channel).ordering_module->name, "y");
}

TEST(ManifestToString, SpellingsMatchTheYamlValues) {
  EXPECT_STREQ(to_string(Ordering::none), "none");
  EXPECT_STREQ(to_string(Ordering::fifo), "fifo");
  EXPECT_STREQ(to_string(Ordering::fifo_drop_stale), "fifo-drop-stale");
  EXPECT_STREQ(to_string(Ordering::total), "total");
  EXPECT_STREQ(to_string(Ordering::module), "module");
  EXPECT_STREQ(to_string(ErrorChecking::none), "none");
  EXPECT_STREQ(to_string(ErrorChecking::crc32c), "crc32c");
  EXPECT_STREQ(to_string(Synchronicity::blocking), "blocking");
  EXPECT_STREQ(to_string(Synchronicity::asynchronous), "asynchronous");
  EXPECT_STREQ(to_string(Duplexity::full), "full");
  EXPECT_STREQ(to_string(Duplexity::half), "half");
  EXPECT_STREQ(to_string(Duplexity::send_only), "send-only");
  EXPECT_STREQ(to_string(Duplexity::receive_only), "receive-only");
}

}  // namespace
}  // namespace tmc
