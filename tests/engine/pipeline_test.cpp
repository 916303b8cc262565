// core/pipeline: the name -> factory primitive table. Every value a manifest can hold maps to a
// row; a name that is not in the table fails the compile with std::invalid_argument naming the
// feature and listing the known names; the flags each row sets on DATA packets; mtu bounds; the
// derived channel and sender ids are never 0.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <stdexcept>
#include <string>

#include "core/pipeline.h"
#include "tmc/channel.h"
#include "tmc/wire_format.h"
#include "wire/crc32c.h"
#include "wire/packet.h"

namespace tmc::core {
namespace {

using namespace std::chrono_literals;

bool has_row(const std::string& feature, const std::string& name) {
  for (const auto& p : primitive_table())
    if (feature == p.feature && name == p.name) return true;
  return false;
}

// Expects compile_pipeline(m) to throw std::invalid_argument whose message contains every piece.
void expect_invalid(const Manifest& m, std::initializer_list<std::string> pieces) {
  try {
    compile_pipeline(m);
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const auto& piece : pieces) EXPECT_NE(what.find(piece), std::string::npos) << "'" << piece << "' not in: " << what;
  }
}

Reliability reliability(Reliability::Kind kind) {
  Reliability r;
  r.kind = kind;
  if (kind == Reliability::Kind::subset) r.names = {"a", "b"};
  if (kind == Reliability::Kind::fraction) r.fraction = 0.5;
  return r;
}

TEST(Pipeline, TableRowsAreUniqueAndComplete) {
  std::set<std::pair<std::string, std::string>> rows;
  for (const auto& p : primitive_table()) {
    ASSERT_NE(p.feature, nullptr);
    ASSERT_NE(p.name, nullptr);
    EXPECT_TRUE(rows.emplace(p.feature, p.name).second) << "duplicate row " << p.feature << "/" << p.name;
    EXPECT_NE(p.configure, nullptr) << p.feature << "/" << p.name;
    EXPECT_TRUE(p.summary && *p.summary) << p.feature << "/" << p.name;
  }
}

TEST(Pipeline, EveryManifestValueHasARow) {
  for (const char* name : {"none", "fifo", "fifo-drop-stale", "total", "module"}) EXPECT_TRUE(has_row("ordering", name)) << name;
  for (Ordering o : {Ordering::none, Ordering::fifo, Ordering::fifo_drop_stale, Ordering::total, Ordering::module})
    EXPECT_TRUE(has_row("ordering", to_string(o))) << "to_string(Ordering) " << to_string(o);
  for (const char* name : {"none", "all", "subset", "fraction"}) EXPECT_TRUE(has_row("reliability", name)) << name;
  for (ErrorChecking e : {ErrorChecking::none, ErrorChecking::crc32c})
    EXPECT_TRUE(has_row("error_checking", to_string(e))) << to_string(e);
  for (const char* name : {"all", "subset", "fraction"}) EXPECT_TRUE(has_row("targets", name)) << name;
  EXPECT_TRUE(has_row("pacing", "token-bucket"));
  EXPECT_TRUE(has_row("flow_control", "credit"));
}

// manifest.h documents the built-in congestion controllers "none | fixed-window | aimd |
// loss-tolerant" (the YAML loader accepts all four): each must compile. congestion_control goes
// through one table row that defers to the congestion controller registry (itself a name ->
// factory table), so the name is validated there.
TEST(Pipeline, EveryBuiltInCongestionControllerCompiles) {
  EXPECT_TRUE(has_row("congestion_control", "registry"));
  for (const char* name : {"none", "fixed-window", "aimd", "loss-tolerant"}) {
    Manifest m;
    m.congestion_control = CongestionControl{.algorithm = name};
    EXPECT_NO_THROW(compile_pipeline(m)) << "congestion_control: " << name;
  }
}

TEST(Pipeline, DefaultsCompileToTheCheapestPipeline) {
  const CompiledPipeline p = compile_pipeline(Manifest{});
  EXPECT_EQ(p.flags, 0);
  EXPECT_EQ(p.ordering, Ordering::none);
  EXPECT_EQ(p.reliability.kind, Reliability::Kind::none);
  EXPECT_EQ(p.targets.kind, Targets::Kind::all);
  EXPECT_FALSE(p.checksum);
  EXPECT_EQ(p.mtu, 1500u);
  EXPECT_EQ(p.max_payload, wire::max_data_payload(1500));
  EXPECT_FALSE(p.deadline);
  EXPECT_FALSE(p.send_stages.empty());
  EXPECT_FALSE(p.receive_stages.empty());
}

TEST(Pipeline, OrderingFlags) {
  struct Case {
    Ordering ordering;
    std::uint16_t flags;
  };
  for (const Case& c : {Case{Ordering::none, 0}, Case{Ordering::fifo, TMC_FLAG_ORDERED},
                        Case{Ordering::fifo_drop_stale, TMC_FLAG_ORDERED | TMC_FLAG_DROP_STALE}}) {
    const CompiledPipeline p = compile_pipeline(Manifest{.ordering = c.ordering});
    EXPECT_EQ(p.flags, c.flags) << to_string(c.ordering);
    EXPECT_EQ(p.ordering, c.ordering);
  }
}

TEST(Pipeline, TotalOrderFlagsAndTargets) {
  const CompiledPipeline p = compile_pipeline(Manifest{.ordering = Ordering::total});
  EXPECT_EQ(p.ordering, Ordering::total);
  EXPECT_EQ(p.flags, TMC_FLAG_TOTAL_ORDER);
  // Every member must see every total-order message: a subset or fraction is refused.
  expect_invalid(Manifest{.targets = Targets{.kind = Targets::Kind::subset, .names = {"a"}}, .ordering = Ordering::total},
                 {"ordering", "targets"});
  expect_invalid(Manifest{.targets = Targets{.kind = Targets::Kind::fraction, .fraction = 0.5}, .ordering = Ordering::total},
                 {"ordering", "targets"});
}

TEST(Pipeline, ReliabilityFlags) {
  EXPECT_EQ(compile_pipeline(Manifest{.reliability = reliability(Reliability::Kind::none)}).flags, 0);
  for (auto kind : {Reliability::Kind::all, Reliability::Kind::subset, Reliability::Kind::fraction}) {
    const CompiledPipeline p = compile_pipeline(Manifest{.reliability = reliability(kind)});
    EXPECT_EQ(p.flags, TMC_FLAG_ACK_REQUESTED);
    EXPECT_EQ(p.reliability, reliability(kind));
  }
}

TEST(Pipeline, ErrorCheckingFlags) {
  const CompiledPipeline none = compile_pipeline(Manifest{.error_checking = ErrorChecking::none});
  EXPECT_FALSE(none.checksum);
  EXPECT_EQ(none.flags & TMC_FLAG_CHECKSUM, 0);
  const CompiledPipeline crc = compile_pipeline(Manifest{.error_checking = ErrorChecking::crc32c});
  EXPECT_TRUE(crc.checksum);
  EXPECT_EQ(crc.flags, TMC_FLAG_CHECKSUM);
}

TEST(Pipeline, FlagsCombine) {
  const CompiledPipeline p = compile_pipeline(Manifest{.ordering = Ordering::fifo,
                                                       .reliability = reliability(Reliability::Kind::all),
                                                       .error_checking = ErrorChecking::crc32c});
  EXPECT_EQ(p.flags, TMC_FLAG_ORDERED | TMC_FLAG_ACK_REQUESTED | TMC_FLAG_CHECKSUM);
  EXPECT_EQ(p.flags & ~TMC_FLAG_KNOWN_MASK, 0);
}

TEST(Pipeline, InvalidReliabilityParametersNameTheFeature) {
  Reliability zero_fraction = reliability(Reliability::Kind::fraction);
  zero_fraction.fraction = 0;
  expect_invalid(Manifest{.reliability = zero_fraction}, {"reliability", "fraction"});
  Reliability big_fraction = reliability(Reliability::Kind::fraction);
  big_fraction.fraction = 1.5;
  expect_invalid(Manifest{.reliability = big_fraction}, {"reliability", "fraction"});
  Reliability empty_subset = reliability(Reliability::Kind::subset);
  empty_subset.names.clear();
  expect_invalid(Manifest{.reliability = empty_subset}, {"reliability", "subset"});
  Reliability no_window = reliability(Reliability::Kind::all);
  no_window.window = 0;
  expect_invalid(Manifest{.reliability = no_window}, {"reliability", "window"});
  Reliability inverted = reliability(Reliability::Kind::all);
  inverted.min_rto = 1s;
  inverted.max_rto = 1ms;
  expect_invalid(Manifest{.reliability = inverted}, {"reliability", "min_rto"});
}

TEST(Pipeline, Targets) {
  const CompiledPipeline subset =
      compile_pipeline(Manifest{.targets = Targets{.kind = Targets::Kind::subset, .names = {"x"}}});
  EXPECT_EQ(subset.targets.kind, Targets::Kind::subset);
  EXPECT_EQ(subset.targets.names, std::vector<std::string>{"x"});
  expect_invalid(Manifest{.targets = Targets{.kind = Targets::Kind::subset}}, {"targets", "subset"});
  expect_invalid(Manifest{.targets = Targets{.kind = Targets::Kind::fraction, .fraction = 0}}, {"targets", "fraction"});
  const CompiledPipeline fraction =
      compile_pipeline(Manifest{.targets = Targets{.kind = Targets::Kind::fraction, .fraction = 0.25}});
  EXPECT_EQ(fraction.targets.fraction, 0.25);
}

TEST(Pipeline, UnknownNamesThrowNamingTheFeatureAndListingKnownNames) {
  Manifest m;
  m.congestion_control = CongestionControl{.algorithm = "warp-drive"};
  expect_invalid(m, {"congestion_control", "warp-drive", "known", "none", "fixed-window", "aimd", "loss-tolerant"});
  // An enum value outside the table (e.g. from a newer manifest schema) fails the same way.
  expect_invalid(Manifest{.ordering = static_cast<Ordering>(99)},
                 {"ordering", "unknown", "none", "fifo", "fifo-drop-stale", "total"});
  expect_invalid(Manifest{.reliability = Reliability{.kind = static_cast<Reliability::Kind>(42)}},
                 {"reliability", "unknown", "none", "all", "subset", "fraction"});
  expect_invalid(Manifest{.targets = Targets{.kind = static_cast<Targets::Kind>(42)}},
                 {"targets", "unknown", "all", "subset", "fraction"});
}

TEST(Pipeline, MissingCongestionModuleIsRejected) {
  Manifest m;
  m.congestion_control = CongestionControl{.algorithm = "custom", .module = "/nonexistent/libtmc_cc_custom.so"};
  expect_invalid(m, {"congestion_control"});
}

// ordering: {module, name, params}: the module is loaded and checked when the manifest compiles;
// on the wire its messages are fifo's (TMC_FLAG_ORDERED); plan() names it.
TEST(Pipeline, OrderingModuleCompilesToOrderedMessagesAndIsNamedInThePlan) {
  Manifest m;
  m.ordering = Ordering::module;
  m.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE, .name = "reorder-window", .params = {{"window", "4"}}};
  const CompiledPipeline p = compile_pipeline(m);
  EXPECT_EQ(p.ordering, Ordering::module);
  EXPECT_EQ(p.flags, TMC_FLAG_ORDERED);
  bool named = false;
  for (const auto& stage : p.receive_stages)
    named |= stage.find(std::string("ordering: reorder-window (module ") + TMC_EXAMPLE_ORDERING_MODULE + ") window=4") == 0;
  EXPECT_TRUE(named);
  m.reliability = Reliability{.kind = Reliability::Kind::all};
  EXPECT_EQ(compile_pipeline(m).flags, TMC_FLAG_ORDERED | TMC_FLAG_ACK_REQUESTED);
  const std::string plan = describe_plan(m);
  EXPECT_NE(plan.find(std::string("ordering: reorder-window (module ") + TMC_EXAMPLE_ORDERING_MODULE +
                      ") -- named by the manifest; loaded through the module ABI (version 2)"),
            std::string::npos)
      << plan;
}

TEST(Pipeline, BadOrderingModulesAreRejectedNamingTheModule) {
  Manifest m;
  m.ordering = Ordering::module;
  expect_invalid(m, {"ordering: module needs ordering_module"});
  m.ordering_module = OrderingModule{.module = "/nonexistent/libtmc_order.so", .name = "x"};
  expect_invalid(m, {"ordering: module /nonexistent/libtmc_order.so: cannot load"});
  m.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE, .name = "fifo"};
  expect_invalid(m, {"ordering: module ", " provides no ordering 'fifo' (it provides: reorder-window)"});
  m.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE, .name = "reorder-window", .params = {{"depth", "2"}}};
  expect_invalid(m, {"ordering: ordering 'reorder-window' (module ", "unknown parameter 'depth' (known: window, max_hold_us)"});
  m.ordering_module->params = {{"window", "many"}};
  expect_invalid(m, {"window must be a whole number in 1..65536, got 'many'"});
  m.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE_WRONG_ABI, .name = "reorder-window"};
  expect_invalid(m, {"incompatible module ABI version 3 (this libtmc speaks 2 and 1)"});
  Manifest stray;
  stray.ordering = Ordering::fifo;
  stray.ordering_module = OrderingModule{.module = TMC_EXAMPLE_ORDERING_MODULE, .name = "reorder-window"};
  expect_invalid(stray, {"ordering_module is only used with ordering = Ordering::module"});
}

TEST(Pipeline, MtuBounds) {
  expect_invalid(Manifest{.mtu = 575}, {"mtu"});
  expect_invalid(Manifest{.mtu = 0}, {"mtu"});
  expect_invalid(Manifest{.mtu = 65536}, {"mtu"});
  const CompiledPipeline low = compile_pipeline(Manifest{.mtu = 576});
  EXPECT_EQ(low.mtu, 576u);
  EXPECT_EQ(low.max_payload, 576u - 20 - 8 - TMC_DATA_HEADER_SIZE);
  const CompiledPipeline high = compile_pipeline(Manifest{.mtu = 65535});
  EXPECT_EQ(high.max_payload, 65535u - 20 - 8 - TMC_DATA_HEADER_SIZE);
  // A full DATA packet must fit the 16-bit payload length field.
  EXPECT_LE(high.max_payload, 0xFFFFu);
}

TEST(Pipeline, DeadlineIsCarriedThrough) {
  EXPECT_EQ(compile_pipeline(Manifest{.deadline = 5ms}).deadline, Duration(5ms));
}

// Appends 4 bytes to `prefix` so that crc32c(result) == target. CRC over a fixed-length message
// is affine in the message bits, so the 4 bytes solve a 32x32 linear system over GF(2).
std::string force_crc(const std::string& prefix, std::uint32_t target) {
  auto crc_with = [&](std::uint32_t tail) {
    std::string s = prefix;
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((tail >> (8 * i)) & 0xFF));
    return wire::crc32c(s.data(), s.size());
  };
  const std::uint32_t base = crc_with(0);
  std::array<std::uint32_t, 32> column{};
  for (int bit = 0; bit < 32; ++bit) column[bit] = crc_with(1u << bit) ^ base;
  // Solve sum(x_bit * column[bit]) = base ^ target by Gaussian elimination on rows.
  std::array<std::uint64_t, 32> rows{};  // bits 0..31: coefficients, bit 32: right-hand side
  const std::uint32_t rhs = base ^ target;
  for (int r = 0; r < 32; ++r) {
    std::uint64_t row = 0;
    for (int bit = 0; bit < 32; ++bit)
      if (column[bit] >> r & 1) row |= 1ull << bit;
    if (rhs >> r & 1) row |= 1ull << 32;
    rows[r] = row;
  }
  for (int col = 0, r = 0; col < 32; ++col, ++r) {
    int pivot = r;
    while (pivot < 32 && !(rows[pivot] >> col & 1)) ++pivot;
    if (pivot == 32) return {};
    std::swap(rows[r], rows[pivot]);
    for (int other = 0; other < 32; ++other)
      if (other != r && (rows[other] >> col & 1)) rows[other] ^= rows[r];
  }
  std::uint32_t tail = 0;
  for (int bit = 0; bit < 32; ++bit)
    if (rows[bit] >> 32 & 1) tail |= 1u << bit;
  std::string s = prefix;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((tail >> (8 * i)) & 0xFF));
  return s;
}

TEST(Pipeline, ChannelIdIsTheCrcOfTheNameButNeverZero) {
  const std::string name = "kv-store";
  EXPECT_EQ(channel_id_for(name), wire::crc32c(name.data(), name.size()));
  EXPECT_EQ(channel_id_for(name), channel_id_for(name));
  EXPECT_NE(channel_id_for("a"), channel_id_for("b"));
  const std::string zero_crc_name = force_crc("channel-", 0);
  ASSERT_EQ(zero_crc_name.size(), 12u);
  ASSERT_EQ(wire::crc32c(zero_crc_name.data(), zero_crc_name.size()), 0u) << "test helper failed to force a zero CRC";
  EXPECT_NE(channel_id_for(zero_crc_name), 0u);
}

TEST(Pipeline, SenderIdIsNeverZeroAndDiffersFromTheChannelId) {
  EXPECT_NE(sender_id_for("n0"), 0u);
  EXPECT_NE(sender_id_for("n0"), sender_id_for("n1"));
  EXPECT_NE(sender_id_for("kv-store"), channel_id_for("kv-store"));
  // "member:" + name is hashed: force that key's CRC to zero.
  const std::string key = force_crc("member:replica", 0);
  ASSERT_EQ(wire::crc32c(key.data(), key.size()), 0u);
  const std::string member_name = key.substr(std::string("member:").size());
  EXPECT_NE(sender_id_for(member_name), 0u);
  // The empty name is a valid key too.
  EXPECT_NE(sender_id_for(""), 0u);
  EXPECT_NE(channel_id_for(""), 0u) << "crc32c of the empty string is 0";
}

}  // namespace
}  // namespace tmc::core
