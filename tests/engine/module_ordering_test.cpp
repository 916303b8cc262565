// modules/module_ordering: an ordering primitive from a module (tests/engine/modules/
// example_ordering.c, "reorder-window", ABI version 2) behind core::ReceiveOrdering, driven with
// synthetic messages and a mock clock: it loads, runs (verdicts, releases, its timer) and is
// unloaded; parameters are checked; a wrong ABI version is refused.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "modules/module_manager.h"
#include "modules/module_ordering.h"
#include "tmc/wire_format.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

using core::CompleteMessage;
using core::TimePoint;
using Seqs = std::vector<std::uint64_t>;

const char* const kModule = TMC_EXAMPLE_ORDERING_MODULE;
const char* const kWrongAbi = TMC_EXAMPLE_ORDERING_MODULE_WRONG_ABI;
constexpr std::uint16_t kUnreliable = TMC_FLAG_ORDERED;
constexpr std::uint16_t kReliable = TMC_FLAG_ORDERED | TMC_FLAG_ACK_REQUESTED;

bool is_mapped(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

int live_instances() {
  void* handle = dlopen(kModule, RTLD_NOW | RTLD_NOLOAD);
  if (!handle) return -1;
  auto count = reinterpret_cast<int (*)()>(dlsym(handle, "example_ordering_live_instances"));
  const int result = count ? count() : -2;
  dlclose(handle);
  return result;
}

CompleteMessage message(std::uint64_t first, std::uint16_t flags, std::uint32_t fragments = 1) {
  CompleteMessage m;
  m.first_sequence = first;
  m.fragment_count = fragments;
  m.flags = flags;
  m.payload = {std::byte(first & 0xFF), std::byte{0x5A}};
  return m;
}

Seqs firsts(const std::vector<CompleteMessage>& out) {
  Seqs v;
  for (const auto& m : out) v.push_back(m.first_sequence);
  return v;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no error)";
}

struct Fixture {
  CongestionControllerRegistry registry;
  ModuleManager manager{registry};
  std::unique_ptr<core::ReceiveOrdering> make(std::map<std::string, std::string> params = {}) {
    return manager.ordering_factory({.module = kModule, .name = "reorder-window", .params = std::move(params)})(7, 0);
  }
};

TEST(ModuleOrdering, LoadsRunsAndUnloads) {
  CongestionControllerRegistry registry;
  std::unique_ptr<core::ReceiveOrdering> ordering;
  {
    ModuleManager manager(registry);
    auto factory = manager.ordering_factory({.module = kModule, .name = "reorder-window"});
    EXPECT_EQ(live_instances(), 0) << "the probe instance is destroyed";
    ordering = factory(7, 0);
    EXPECT_EQ(live_instances(), 1);
    EXPECT_EQ(dynamic_cast<ModuleOrdering&>(*ordering).name(), "reorder-window");
    std::vector<CompleteMessage> out;
    const TimePoint t0{};
    ordering->on_message(message(100, kUnreliable), 101, false, t0, out);
    ordering->on_message(message(102, kUnreliable), 103, false, t0, out);
    EXPECT_EQ(firsts(out), (Seqs{100})) << "102 waits for 101";
    EXPECT_EQ(ordering->held(), 1u);
    EXPECT_TRUE(manager.unload(kModule));
    factory = nullptr;
    EXPECT_TRUE(is_mapped(kModule)) << "a live ordering keeps its module mapped";
    ordering->on_message(message(101, kUnreliable), 103, true, t0 + 10us, out);
    EXPECT_EQ(firsts(out), (Seqs{100, 101, 102}));
    EXPECT_EQ(out[2].payload, (std::vector<std::byte>{std::byte{102}, std::byte{0x5A}})) << "the host's bytes, intact";
  }
  ordering.reset();
  EXPECT_FALSE(is_mapped(kModule)) << "dlclose after the last ordering";
}

TEST(ModuleOrdering, DeliversInSequenceOrderAndDropsBelowTheDeliveredPoint) {
  Fixture f;
  auto ordering = f.make();
  std::vector<CompleteMessage> out;
  const TimePoint t{};
  ordering->on_message(message(10, kUnreliable), 11, false, t, out);
  ordering->on_message(message(13, kUnreliable), 14, false, t, out);
  ordering->on_message(message(12, kUnreliable, 1), 14, true, t, out);
  EXPECT_EQ(firsts(out), (Seqs{10}));
  EXPECT_EQ(ordering->held(), 2u);
  ordering->on_message(message(11, kUnreliable), 14, true, t, out);  // fills the gap: 11, then 12, 13 released
  EXPECT_EQ(firsts(out), (Seqs{10, 11, 12, 13}));
  EXPECT_EQ(ordering->held(), 0u);
  ordering->on_message(message(9, kUnreliable), 14, true, t, out);   // below the delivered point
  ordering->on_message(message(12, kUnreliable), 14, true, t, out);  // already delivered
  EXPECT_EQ(firsts(out), (Seqs{10, 11, 12, 13}));
  EXPECT_EQ(ordering->dropped(), 2u);
  // A multi-packet message moves the delivered point past all its sequences.
  ordering->on_message(message(14, kUnreliable, 3), 17, false, t, out);
  ordering->on_message(message(16, kUnreliable), 17, true, t, out);
  EXPECT_EQ(firsts(out), (Seqs{10, 11, 12, 13, 14}));
  EXPECT_EQ(ordering->dropped(), 3u);
}

TEST(ModuleOrdering, AFullWindowGivesUpTheGap) {
  Fixture f;
  auto ordering = f.make({{"window", "2"}, {"max_hold_us", "0"}});
  std::vector<CompleteMessage> out;
  const TimePoint t{};
  ordering->on_message(message(100, kUnreliable), 101, false, t, out);
  ordering->on_message(message(102, kUnreliable), 103, false, t, out);
  ordering->on_message(message(103, kUnreliable), 104, false, t, out);
  EXPECT_EQ(ordering->held(), 2u);
  EXPECT_EQ(ordering->next_timer(), core::kNever) << "max_hold_us 0: no timer";
  ordering->on_message(message(105, kUnreliable), 106, false, t, out);  // a third: 101 is given up
  EXPECT_EQ(firsts(out), (Seqs{100, 102, 103}));
  EXPECT_EQ(ordering->held(), 1u) << "105 still waits for 104";
  ordering->on_message(message(101, kUnreliable), 106, true, t, out);
  EXPECT_EQ(ordering->dropped(), 1u);
  ordering->on_message(message(104, kUnreliable), 106, true, t, out);
  EXPECT_EQ(firsts(out), (Seqs{100, 102, 103, 104, 105}));
}

TEST(ModuleOrdering, TheHoldTimerReleasesAfterMaxHold) {
  Fixture f;
  auto ordering = f.make({{"max_hold_us", "1000"}});
  std::vector<CompleteMessage> out;
  const TimePoint t0 = TimePoint{} + 5s;
  ordering->on_message(message(100, kUnreliable), 101, false, t0, out);
  EXPECT_EQ(ordering->next_timer(), core::kNever);
  ordering->on_message(message(102, kUnreliable), 103, false, t0, out);
  ordering->on_message(message(104, kUnreliable), 105, false, t0 + 400us, out);
  EXPECT_EQ(ordering->next_timer(), t0 + 1ms);
  ordering->on_progress(103 + 2, t0 + 999us, out);
  EXPECT_EQ(firsts(out), (Seqs{100}));
  ordering->on_progress(105, t0 + 1ms, out);  // 102 expired; 104 still waits for 103
  EXPECT_EQ(firsts(out), (Seqs{100, 102}));
  EXPECT_EQ(ordering->next_timer(), t0 + 1400us);
  ordering->on_progress(105, t0 + 2ms, out);
  EXPECT_EQ(firsts(out), (Seqs{100, 102, 104}));
  EXPECT_EQ(ordering->next_timer(), core::kNever);
  EXPECT_EQ(ordering->held(), 0u);
}

// Reliable messages: the cumulative point says whether anything before a message can still come.
TEST(ModuleOrdering, ReliableMessagesWaitForTheCumulativePoint) {
  Fixture f;
  auto ordering = f.make();
  std::vector<CompleteMessage> out;
  const TimePoint t{};
  ordering->on_message(message(50, kReliable), 48, false, t, out);  // 48 and 49 are missing
  EXPECT_TRUE(out.empty());
  ordering->on_progress(48, t, out);
  EXPECT_TRUE(out.empty());
  ordering->on_progress(51, t, out);  // 48 and 49 arrived (or were abandoned)
  EXPECT_EQ(firsts(out), (Seqs{50}));
  ordering->on_message(message(51, kReliable), 52, false, t, out);
  EXPECT_EQ(firsts(out), (Seqs{50, 51}));
}

TEST(ModuleOrdering, UnorderedAndTotalOrderMessagesPassThrough) {
  Fixture f;
  auto ordering = f.make();
  std::vector<CompleteMessage> out;
  const TimePoint t{};
  ordering->on_message(message(10, kUnreliable), 11, false, t, out);
  ordering->on_message(message(12, kUnreliable), 13, false, t, out);  // held
  ordering->on_message(message(5, TMC_FLAG_ACK_REQUESTED), 13, false, t, out);
  ordering->on_message(message(3, TMC_FLAG_TOTAL_ORDER | TMC_FLAG_ORDERED), 13, false, t, out);
  EXPECT_EQ(firsts(out), (Seqs{10, 5, 3})) << "not the module's: delivered on completion";
  EXPECT_EQ(ordering->held(), 1u);
  EXPECT_EQ(ordering->dropped(), 0u);
}

TEST(ModuleOrdering, ParametersAreCheckedWithTheModuleNamed) {
  Fixture f;
  EXPECT_EQ(message_of([&] { f.make({{"depth", "3"}}); }),
            std::string("ordering 'reorder-window' (module ") + kModule +
                "): unknown parameter 'depth' (known: window, max_hold_us)");
  EXPECT_EQ(message_of([&] { f.make({{"window", "0"}}); }),
            std::string("ordering 'reorder-window' (module ") + kModule +
                "): window must be a whole number in 1..65536, got '0'");
  EXPECT_EQ(message_of([&] { f.manager.ordering_factory({.module = kModule, .name = "fifo"}); }),
            std::string("module ") + kModule + " provides no ordering 'fifo' (it provides: reorder-window)");
  EXPECT_EQ(live_instances(), 0);
}

TEST(ModuleOrdering, WrongAbiVersionIsRefused) {
  Fixture f;
  EXPECT_EQ(message_of([&] { f.manager.ordering_factory({.module = kWrongAbi, .name = "reorder-window"}); }),
            std::string("module ") + kWrongAbi + ": incompatible module ABI version 3 (this libtmc speaks 2 and 1)");
  EXPECT_FALSE(is_mapped(kWrongAbi));
  const std::string missing = message_of([&] { f.manager.ordering_factory({.module = "/nonexistent/libx.so", .name = "x"}); });
  EXPECT_EQ(missing.rfind("module /nonexistent/libx.so: cannot load: ", 0), 0u) << missing;
}

// A module that breaks the contract: a verdict outside the ABI drops that message, a handle it
// does not hold (or releases twice) ends the round; each counted, nothing delivered twice, no loop.
TEST(ModuleOrdering, AMisbehavingModuleCannotCorruptTheStream) {
  for (const char* mode : {"unknown", "repeat"}) {
    CongestionControllerRegistry registry;
    ModuleManager manager(registry);
    auto ordering = manager.ordering_factory(
        {.module = TMC_MISBEHAVING_ORDERING_MODULE, .name = "misbehaving", .params = {{"mode", mode}}})(1, 0);
    auto& module_ordering = dynamic_cast<ModuleOrdering&>(*ordering);
    std::vector<CompleteMessage> out;
    const TimePoint t{};
    ordering->on_message(message(3, kUnreliable), 4, false, t, out);  // verdict 42
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(ordering->dropped(), 1u);
    EXPECT_EQ(module_ordering.module_errors(), 2u) << mode << ": the verdict, then the bad handle ending the round";
    ordering->on_message(message(4, kUnreliable), 5, false, t, out);  // held, released, then a bad handle
    EXPECT_EQ(firsts(out), (Seqs{4}));
    EXPECT_EQ(ordering->held(), 0u);
    EXPECT_EQ(module_ordering.module_errors(), 3u) << mode;
    ordering->on_progress(6, t, out);  // a round of its own: one bad answer, then the host stops asking
    EXPECT_EQ(firsts(out), (Seqs{4})) << "nothing delivered twice";
    EXPECT_EQ(module_ordering.module_errors(), 4u) << mode;
  }
}

// A timer left in the past would wake the channel at once, forever: the host clears it.
TEST(ModuleOrdering, ATimerLeftInThePastIsCleared) {
  CongestionControllerRegistry registry;
  ModuleManager manager(registry);
  auto ordering = manager.ordering_factory(
      {.module = TMC_MISBEHAVING_ORDERING_MODULE, .name = "misbehaving", .params = {{"mode", "past-timer"}}})(1, 0);
  std::vector<CompleteMessage> out;
  ordering->on_message(message(4, kUnreliable), 5, false, TimePoint{} + 1s, out);
  EXPECT_EQ(ordering->held(), 1u);
  EXPECT_EQ(ordering->next_timer(), core::kNever);
  EXPECT_EQ(dynamic_cast<ModuleOrdering&>(*ordering).module_errors(), 1u);
}

}  // namespace
}  // namespace tmc
