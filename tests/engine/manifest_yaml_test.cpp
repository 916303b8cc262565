// The YAML manifest loader: every feature round-trips (YAML -> Manifest -> YAML -> Manifest),
// every kind of mistake is reported as FILE:LINE:COL with a message naming the key, and the shared
// value parsers (durations, byte sizes, rates) read what docs/manifest.md promises.
#include "tmc/manifest_yaml.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;

namespace tmc {
namespace {

constexpr const char* kFullManifest = R"(channel: kv
multicast:
  members:
    - {name: a, address: 10.0.0.1:7000}
    - {name: b, address: "[::1]:7001"}
    - name: c
      address: 10.0.0.3:7002
  group: 239.1.2.3:7000
targets: [a, b]
ordering: fifo-drop-stale
reliability:
  acks: [b]
  min_rto: 500us
  max_rto: 1s
  initial_rto: 2ms
  window: 128
  member_timeout: 3s
error_checking: crc32c
mtu: 1500
pacing: {rate: 100Mbit, burst: 64KiB}
flow_control: {window: 4MiB}
congestion_control: {module: libfoo.so, name: foo, params: {beta: 0.7, gain: "2"}}
synchronicity: asynchronous
duplexity: half
deadline: 1.5ms
)";

// Parses, writes back, parses again: both parses must agree.
Manifest round_trip(const std::string& yaml) {
  const Manifest first = parse_manifest(yaml, "first.yaml");
  const std::string written = manifest_to_yaml(first);
  const Manifest second = parse_manifest(written, "second.yaml");
  EXPECT_EQ(first, second) << "YAML in:\n" << yaml << "\nYAML out:\n" << written;
  return first;
}

TEST(ManifestYaml, FullManifestReadsEveryFeature) {
  const Manifest m = round_trip(kFullManifest);
  EXPECT_EQ(m.channel, "kv");
  ASSERT_TRUE(m.multicast);
  EXPECT_EQ(m.multicast->members,
            (std::vector<Member>{{"a", "10.0.0.1:7000"}, {"b", "[::1]:7001"}, {"c", "10.0.0.3:7002"}}));
  EXPECT_EQ(m.multicast->group, "239.1.2.3:7000");
  ASSERT_TRUE(m.targets);
  EXPECT_EQ(m.targets->kind, Targets::Kind::subset);
  EXPECT_EQ(m.targets->names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.ordering, Ordering::fifo_drop_stale);
  ASSERT_TRUE(m.reliability);
  EXPECT_EQ(m.reliability->kind, Reliability::Kind::subset);
  EXPECT_EQ(m.reliability->names, std::vector<std::string>{"b"});
  EXPECT_EQ(m.reliability->min_rto, 500us);
  EXPECT_EQ(m.reliability->max_rto, 1s);
  EXPECT_EQ(m.reliability->initial_rto, 2ms);
  EXPECT_EQ(m.reliability->window, 128u);
  EXPECT_EQ(m.reliability->member_timeout, 3s);
  EXPECT_EQ(m.error_checking, ErrorChecking::crc32c);
  EXPECT_EQ(m.mtu, 1500u);
  ASSERT_TRUE(m.pacing);
  EXPECT_DOUBLE_EQ(m.pacing->rate_bytes_per_second, 12.5e6);
  EXPECT_EQ(m.pacing->burst_bytes, 65536u);
  ASSERT_TRUE(m.flow_control);
  EXPECT_EQ(m.flow_control->window_bytes, 4u << 20);
  ASSERT_TRUE(m.congestion_control);
  EXPECT_EQ(m.congestion_control->module, "libfoo.so");
  EXPECT_EQ(m.congestion_control->algorithm, "foo");
  EXPECT_EQ(m.congestion_control->params, (std::map<std::string, std::string>{{"beta", "0.7"}, {"gain", "2"}}));
  EXPECT_EQ(m.synchronicity, Synchronicity::asynchronous);
  EXPECT_EQ(m.duplexity, Duplexity::half);  // send-only would refuse reliability (channel_duplexity_test)
  EXPECT_EQ(m.deadline, 1500us);
}

TEST(ManifestYaml, EmptyDocumentIsAnEmptyManifest) {
  EXPECT_EQ(parse_manifest(""), Manifest{});
  EXPECT_EQ(parse_manifest("# only a comment\n"), Manifest{});
  EXPECT_EQ(parse_manifest("~"), Manifest{});
  EXPECT_EQ(parse_manifest("{}"), Manifest{});
  EXPECT_EQ(manifest_to_yaml(Manifest{}), "{}");
}

TEST(ManifestYaml, PerMessageSubsetLeavesTheRestUnset) {
  const Manifest m = round_trip("targets: [a]\ndeadline: 20ms\n");
  Manifest expected;
  expected.targets = Targets{Targets::Kind::subset, {"a"}, 1.0};
  expected.deadline = 20ms;
  EXPECT_EQ(m, expected);
}

TEST(ManifestYaml, TargetsForms) {
  EXPECT_EQ(round_trip("targets: all").targets->kind, Targets::Kind::all);
  const Manifest fraction = round_trip("targets: {fraction: 0.5}");
  EXPECT_EQ(fraction.targets->kind, Targets::Kind::fraction);
  EXPECT_DOUBLE_EQ(fraction.targets->fraction, 0.5);
  EXPECT_DOUBLE_EQ(round_trip("targets: {fraction: 1}").targets->fraction, 1.0);
  EXPECT_EQ(round_trip("targets:\n  - x\n  - y\n").targets->names, (std::vector<std::string>{"x", "y"}));
}

TEST(ManifestYaml, OrderingValues) {
  EXPECT_EQ(round_trip("ordering: none").ordering, Ordering::none);
  EXPECT_EQ(round_trip("ordering: fifo").ordering, Ordering::fifo);
  EXPECT_EQ(round_trip("ordering: fifo-drop-stale").ordering, Ordering::fifo_drop_stale);
  EXPECT_EQ(round_trip("ordering: total").ordering, Ordering::total);
}

TEST(ManifestYaml, ReliabilityForms) {
  EXPECT_EQ(round_trip("reliability: none").reliability, Reliability{});
  Reliability all;
  all.kind = Reliability::Kind::all;
  EXPECT_EQ(round_trip("reliability: all").reliability, all);
  // A mapping with timers but no acks means acks from all.
  const Reliability timers = *round_trip("reliability: {max_rto: 50ms}").reliability;
  EXPECT_EQ(timers.kind, Reliability::Kind::all);
  EXPECT_EQ(timers.max_rto, 50ms);
  EXPECT_EQ(timers.min_rto, Reliability{}.min_rto);

  const Reliability fraction = *round_trip("reliability: {fraction: 0.67}").reliability;
  EXPECT_EQ(fraction.kind, Reliability::Kind::fraction);
  EXPECT_DOUBLE_EQ(fraction.fraction, 0.67);
  const Reliability acks_fraction = *round_trip("reliability: {acks: {fraction: 0.25}, window: 8}").reliability;
  EXPECT_EQ(acks_fraction.kind, Reliability::Kind::fraction);
  EXPECT_DOUBLE_EQ(acks_fraction.fraction, 0.25);
  EXPECT_EQ(acks_fraction.window, 8u);

  const Reliability subset = *round_trip("reliability: [a, b]").reliability;
  EXPECT_EQ(subset.kind, Reliability::Kind::subset);
  EXPECT_EQ(subset.names, (std::vector<std::string>{"a", "b"}));

  const Reliability none_with_timer = *round_trip("reliability: {acks: none, member_timeout: 1m}").reliability;
  EXPECT_EQ(none_with_timer.kind, Reliability::Kind::none);
  EXPECT_EQ(none_with_timer.member_timeout, 60s);
}

TEST(ManifestYaml, MaxAckDelay) {
  EXPECT_EQ(Reliability{}.max_ack_delay, 0us) << "default: ack at the end of every receive batch";
  EXPECT_EQ(round_trip("reliability: {acks: all, max_ack_delay: 200us}").reliability->max_ack_delay, 200us);
  EXPECT_EQ(round_trip("reliability: {acks: all, max_ack_delay: 0s}").reliability->max_ack_delay, 0us);
  for (const char* bad : {"reliability: {acks: all, max_ack_delay: -1ms}", "reliability: {acks: all, max_ack_delay: 20s}",
                          "reliability: {acks: all, max_ack_delay: soon}"}) {
    try {
      parse_manifest(bad, "m.yaml");
      ADD_FAILURE() << bad << " accepted";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find("m.yaml:1:"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("max_ack_delay"), std::string::npos) << error.what();
    }
  }
}

TEST(ManifestYaml, EnumeratedFeatures) {
  EXPECT_EQ(round_trip("error_checking: none").error_checking, ErrorChecking::none);
  EXPECT_EQ(round_trip("error_checking: crc32c").error_checking, ErrorChecking::crc32c);
  EXPECT_EQ(round_trip("synchronicity: blocking").synchronicity, Synchronicity::blocking);
  EXPECT_EQ(round_trip("synchronicity: asynchronous").synchronicity, Synchronicity::asynchronous);
  EXPECT_EQ(round_trip("duplexity: full").duplexity, Duplexity::full);
  EXPECT_EQ(round_trip("multicast: {members: [{name: a, address: \"10.0.0.1:1\"}, {name: b, address: \"10.0.0.2:1\"}]}\nordering: total\nsequencer: b\n").sequencer, "b");
  try {
    parse_manifest("multicast: {members: [{name: a, address: \"10.0.0.1:1\"}]}\nsequencer: zed\n", "s.yaml");
    ADD_FAILURE() << "an unknown sequencer must fail";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), "s.yaml:2:12: sequencer: unknown member 'zed'; members: a");
  }
  EXPECT_EQ(round_trip("duplexity: half").duplexity, Duplexity::half);
  EXPECT_EQ(round_trip("duplexity: send-only").duplexity, Duplexity::send_only);
  EXPECT_EQ(round_trip("duplexity: receive-only").duplexity, Duplexity::receive_only);
  EXPECT_EQ(round_trip("mtu: 576").mtu, 576u);
  EXPECT_EQ(round_trip("mtu: 65535").mtu, 65535u);
  EXPECT_EQ(round_trip("deadline: 200us").deadline, 200us);
}

TEST(ManifestYaml, PacingAndFlowControl) {
  const Pacing bytes = *round_trip("pacing: {rate: 10MB/s}").pacing;
  EXPECT_DOUBLE_EQ(bytes.rate_bytes_per_second, 10e6);
  EXPECT_EQ(bytes.burst_bytes, Pacing{}.burst_bytes);
  EXPECT_DOUBLE_EQ(round_trip("pacing: {rate: 1Gbit, burst: 1500B}").pacing->rate_bytes_per_second, 125e6);
  EXPECT_EQ(round_trip("pacing: {rate: 1Gbit, burst: 1500B}").pacing->burst_bytes, 1500u);
  EXPECT_DOUBLE_EQ(round_trip("pacing: {rate: 1GiB/s}").pacing->rate_bytes_per_second, 1073741824.0);
  EXPECT_DOUBLE_EQ(round_trip("pacing: {rate: 12345.5}").pacing->rate_bytes_per_second, 12345.5);
  EXPECT_EQ(round_trip("pacing: none").pacing, Pacing{});
  EXPECT_EQ(round_trip("flow_control: {window: 1GB}").flow_control->window_bytes, 1000000000u);
  EXPECT_EQ(round_trip("flow_control: {}").flow_control, FlowControl{});
}

TEST(ManifestYaml, CongestionControlForms) {
  for (const char* name : {"none", "fixed-window", "aimd", "loss-tolerant"}) {
    const CongestionControl control = *round_trip(std::string("congestion_control: ") + name).congestion_control;
    EXPECT_EQ(control.algorithm, name);
    EXPECT_TRUE(control.module.empty());
    EXPECT_TRUE(is_builtin_congestion_control(name));
  }
  EXPECT_FALSE(is_builtin_congestion_control("cubic"));
  const CongestionControl with_params =
      *round_trip("congestion_control: {algorithm: fixed-window, params: {window: 64}}").congestion_control;
  EXPECT_EQ(with_params.algorithm, "fixed-window");
  EXPECT_EQ(with_params.params, (std::map<std::string, std::string>{{"window", "64"}}));
  const CongestionControl module =
      *round_trip("congestion_control: {module: ./libbbr.so, name: bbr}").congestion_control;
  EXPECT_EQ(module.module, "./libbbr.so");
  EXPECT_EQ(module.algorithm, "bbr");
}

// ordering: {module: FILE, name: NAME, params: {...}} -- an ordering primitive from a module.
TEST(ManifestYaml, OrderingModuleForm) {
  const Manifest m = round_trip(
      "ordering: {module: /opt/tmc/libreorder.so, name: reorder-window, params: {window: 16, max_hold_us: \"500\"}}");
  EXPECT_EQ(m.ordering, Ordering::module);
  ASSERT_TRUE(m.ordering_module);
  EXPECT_EQ(m.ordering_module->module, "/opt/tmc/libreorder.so");
  EXPECT_EQ(m.ordering_module->name, "reorder-window");
  EXPECT_EQ(m.ordering_module->params, (std::map<std::string, std::string>{{"window", "16"}, {"max_hold_us", "500"}}));
  const Manifest block = round_trip("ordering:\n  module: ./libx.so\n  name: x\n");
  EXPECT_EQ(block.ordering_module, (OrderingModule{.module = "./libx.so", .name = "x"}));
  EXPECT_FALSE(round_trip("ordering: fifo").ordering_module);
}

TEST(ManifestYaml, MulticastWithoutGroupIsUnicastFanOut) {
  const Multicast multicast =
      *round_trip("multicast: {members: [{name: a, address: '127.0.0.1:1'}, {name: b, address: '[fe80::1]:2'}]}")
           .multicast;
  EXPECT_TRUE(multicast.group.empty());
  EXPECT_EQ(multicast.members.size(), 2u);
  EXPECT_EQ(round_trip("multicast: {members: [{name: a, address: '[::1]:1'}], group: '[ff02::1]:9'}").multicast->group,
            "[ff02::1]:9");
}

TEST(ManifestYaml, NamesThatLookLikeOtherTypesSurviveTheRoundTrip) {
  const Manifest m = round_trip(
      "channel: 'null'\nmulticast: {members: [{name: 'yes', address: '10.0.0.1:1'}, {name: '~', address: "
      "'10.0.0.2:1'}, {name: '#x', address: '10.0.0.3:1'}, {name: '[b]', address: '10.0.0.4:1'}]}\n"
      "targets: ['yes', '~']\n");
  EXPECT_EQ(m.channel, "null");
  EXPECT_EQ(m.multicast->members[1].name, "~");
  EXPECT_EQ(m.multicast->members[3].name, "[b]");
}

TEST(ManifestYaml, CodeBuiltManifestRoundTrips) {
  Manifest m;
  m.channel = "code";
  m.targets = Targets{Targets::Kind::fraction, {}, 0.1};
  Reliability reliability;
  reliability.kind = Reliability::Kind::fraction;
  reliability.fraction = 1.0 / 3;
  reliability.min_rto = 1234567ns;
  m.reliability = reliability;
  m.pacing = Pacing{1.0 / 7, 1};
  m.deadline = 1ns;
  EXPECT_EQ(parse_manifest(manifest_to_yaml(m)), m) << manifest_to_yaml(m);
}

// ---- errors -------------------------------------------------------------------------------------

struct ErrorCase {
  const char* yaml;
  int line;
  int column;
  const char* fragment;
};

constexpr const char* kMembers =
    "multicast:\n"
    "  members:\n"
    "    - {name: a, address: 10.0.0.1:7000}\n"
    "    - {name: b, address: 10.0.0.2:7000}\n";

class ManifestYamlError : public testing::TestWithParam<ErrorCase> {};

TEST_P(ManifestYamlError, ReportsFileLineColumnAndKey) {
  const ErrorCase& error = GetParam();
  try {
    parse_manifest(error.yaml, "app.yaml");
    FAIL() << "accepted:\n" << error.yaml;
  } catch (const ConfigError& e) {
    const std::string position = "app.yaml:" + std::to_string(error.line) + ":" + std::to_string(error.column) + ": ";
    EXPECT_EQ(std::string(e.what()).substr(0, position.size()), position) << e.what();
    EXPECT_NE(std::string(e.what()).find(error.fragment), std::string::npos)
        << e.what() << "\n  lacks: " << error.fragment;
    EXPECT_EQ(e.file(), "app.yaml");
    EXPECT_EQ(e.line(), error.line);
    EXPECT_EQ(e.column(), error.column);
    EXPECT_EQ(std::string(e.what()), position + e.message());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ManifestYamlError,
    testing::Values(
        // Unknown keys: named, with the valid ones listed.
        ErrorCase{"channel: kv\norderin: fifo\n", 2, 1, "unknown key 'orderin'; valid keys: channel, multicast"},
        ErrorCase{"pacing: {rate: 1Mbit, bursts: 1KiB}", 1, 23,
                  "unknown key 'bursts' in pacing; valid keys: rate, burst"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1:1, port: 2}\n", 3, 38,
                  "unknown key 'port' in multicast.members[0]; valid keys: name, address"},
        ErrorCase{"ordering: fifo\nordering: none\n", 2, 1, "duplicate key 'ordering' (first given at line 1)"},
        // Unknown enumeration values list the valid ones.
        ErrorCase{"ordering: fast", 1, 11,
                  "ordering: unknown value 'fast'; valid values: none, fifo, fifo-drop-stale, total"},
        ErrorCase{"duplexity: simplex", 1, 12, "valid values: full, half, send-only, receive-only"},
        ErrorCase{"synchronicity: [blocking]", 1, 16,
                  "synchronicity: expected one of blocking, asynchronous, got a list"},
        ErrorCase{"error_checking: md5", 1, 17, "valid values: none, crc32c"},
        ErrorCase{"congestion_control: cubic", 1, 21,
                  "unknown congestion control algorithm 'cubic'; built-in: none, fixed-window, aimd, loss-tolerant"},
        // Wrong types.
        ErrorCase{"mtu: [1500]", 1, 6, "mtu: expected an integer in 576..65535, got a list"},
        ErrorCase{"channel: {name: kv}", 1, 10, "channel: expected a channel name (a string), got a mapping"},
        ErrorCase{"multicast: [a, b]", 1, 12, "multicast: expected a mapping with members"},
        ErrorCase{"flow_control: 4MiB", 1, 15, "flow_control: expected {window: SIZE}, got '4MiB'"},
        ErrorCase{"- channel: kv", 1, 1, "a manifest is a mapping of feature: setting"},
        ErrorCase{"ordering:\n", 1, 1, "ordering: missing value"},
        ErrorCase{"congestion_control: {algorithm: aimd, params: {gain: [1, 2]}}", 1, 54,
                  "congestion_control.params.gain: expected a scalar value, got a list"},
        // Impossible values.
        ErrorCase{"mtu: 100", 1, 6, "mtu: 100 is out of range 576..65535"},
        ErrorCase{"targets: {fraction: 1.5}", 1, 21, "targets.fraction: fraction 1.5 is outside (0, 1]"},
        ErrorCase{"reliability: {fraction: 0}", 1, 25, "reliability.fraction: fraction 0 is outside (0, 1]"},
        ErrorCase{"targets: []", 1, 10, "targets: at least one member name is needed"},
        ErrorCase{"targets: [a, a]", 1, 14, "targets[1]: member 'a' is listed twice"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1:7000}\n    - {name: a, address: "
                  "10.0.0.2:7000}\n",
                  4, 14, "multicast.members[1].name: duplicate member name 'a' (also multicast.members[0])"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1:7000}\n    - {name: b, address: "
                  "10.0.0.1:7000}\n",
                  4, 26, "duplicate member address '10.0.0.1:7000'"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.256:7000}\n", 3, 26,
                  "multicast.members[0].address: bad address '10.0.0.256:7000': '10.0.0.256' is not an IPv4 address"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1}\n", 3, 26, "missing ':PORT'"},
        ErrorCase{"multicast: {members: [{name: a, address: localhost:7000}]}", 1, 42,
                  "bad address 'localhost:7000': expected IPv4:PORT or [IPv6]:PORT with a literal address"},
        // Found by the fuzzer: inet_pton stopped at an embedded NUL and accepted "[::1\0...]".
        ErrorCase{"multicast: {members: [{name: a, address: \"[::1\\0junk]:7001\"}]}", 1, 42,
                  "bad address '[::1\\x00junk]:7001'"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: '::1:7000'}\n", 3, 26,
                  "an IPv6 address needs brackets, e.g. [::1]:7000"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1:70000}\n", 3, 26,
                  "port 70000 is not in 1..65535"},
        ErrorCase{"multicast:\n  members:\n    - {name: a}\n", 3, 7, "multicast.members[0]: missing key 'address'"},
        ErrorCase{"multicast:\n  members:\n    - {name: a, address: 10.0.0.1:1}\n  group: 10.0.0.9:7000\n", 4, 10,
                  "multicast.group: bad address '10.0.0.9:7000': '10.0.0.9' is not a multicast address"},
        ErrorCase{"multicast: {group: 239.0.0.1:1}", 1, 12, "multicast: missing key 'members'"},
        ErrorCase{"targets: [a, z]\nmulticast:\n  members:\n    - {name: a, address: 10.0.0.1:7000}\n", 1, 14,
                  "targets[1]: unknown member 'z'; members: a"},
        ErrorCase{
            "multicast:\n  members:\n    - {name: a, address: 10.0.0.1:7000}\n    - {name: b, address: 10.0.0.2:7000}\n"
            "reliability: {acks: [b, c]}\n",
            5, 25, "reliability.acks[1]: unknown member 'c'; members: a, b"},
        ErrorCase{"targets: [a]\nreliability: [b]\n", 2, 15,
                  "reliability[0]: member 'b' cannot acknowledge: it is not a target"},
        ErrorCase{"reliability: {min_rto: 10ms, max_rto: 1ms}", 1, 24,
                  "reliability: min_rto (10ms) is greater than max_rto (1ms)"},
        ErrorCase{"reliability: {min_rto: 1s}", 1, 24, "min_rto (1s) is greater than max_rto (200ms, the default)"},
        ErrorCase{"reliability: {initial_rto: 1s}", 1, 28,
                  "reliability.initial_rto: 1s is outside [min_rto, max_rto] = [500us, 200ms]"},
        ErrorCase{"reliability:\n  acks: all\n  window: 0\n", 3, 11,
                  "reliability.window: 0 is out of range 1..4294967295"},
        ErrorCase{"reliability: {acks: all, fraction: 0.5}", 1, 26,
                  "reliability: give either acks or fraction, not both"},
        ErrorCase{"reliability: most", 1, 14, "reliability: expected none, all, a list of member names"},
        ErrorCase{"flow_control: {window: 0}", 1, 24, "flow_control.window: must be greater than zero"},
        ErrorCase{"flow_control: {window: 1.5B}", 1, 24, "flow_control.window: '1.5B' is not a whole number of bytes"},
        ErrorCase{"pacing: {burst: 1KiB}", 1, 9, "pacing: missing key 'rate'"},
        ErrorCase{"pacing: {rate: 10 furlongs}", 1, 16, "pacing.rate: unknown rate unit 'furlongs' in '10 furlongs'"},
        ErrorCase{"pacing: {rate: 1Mbit, burst: -1KiB}", 1, 30, "pacing.burst: negative byte size '-1KiB'"},
        ErrorCase{"congestion_control: {module: libx.so}", 1, 22, "congestion_control: module needs a name"},
        ErrorCase{"congestion_control: {name: x}", 1, 22, "congestion_control: name is only used with module"},
        ErrorCase{"congestion_control: {module: libx.so, algorithm: aimd, name: x}", 1, 39,
                  "congestion_control: with module, give the algorithm as name"},
        // ordering from a module: module and name required, only known keys, params a mapping.
        ErrorCase{"ordering: {name: reorder-window}", 1, 12, "ordering: missing key 'module'"},
        ErrorCase{"ordering: {module: libx.so}", 1, 12, "ordering: module needs a name (the ordering in it)"},
        ErrorCase{"ordering:\n  module: libx.so\n  name: x\n  window: 4\n", 4, 3,
                  "unknown key 'window' in ordering; valid keys: module, name, params"},
        ErrorCase{"ordering: {module: libx.so, name: x, params: [4]}", 1, 46,
                  "ordering.params: expected a mapping of parameter: value"},
        ErrorCase{"ordering: {module: '', name: x}", 1, 20, "ordering.module: a shared object path must not be empty"},
        ErrorCase{"ordering: module", 1, 11, "ordering: unknown value 'module'; valid values: none, fifo, fifo-drop-stale, total (others need {module: FILE, name: NAME})"},
        ErrorCase{"ordering: [fifo]", 1, 11, "ordering: expected one of none, fifo, fifo-drop-stale, total or {module: FILE, name: NAME}"},
        ErrorCase{"channel: ''", 1, 10, "channel: a channel name must not be empty"},
        // Names are printable UTF-8 (found by the fuzzer: the written-back YAML changed them).
        ErrorCase{"channel: \"kv\\x01\"", 1, 10, "channel: contains a control character"},
        ErrorCase{"targets: [\"\xff\"]", 1, 11, "targets[0]: is not valid UTF-8"},
        ErrorCase{"congestion_control: {algorithm: aimd, params: {k: \"\\t\"}}", 1, 51,
                  "congestion_control.params.k: contains a control character"},
        // Durations.
        ErrorCase{"deadline: 5", 1, 11, "deadline: '5' has no unit, which is ambiguous"},
        ErrorCase{"deadline: -5ms", 1, 11, "deadline: negative duration '-5ms'"},
        ErrorCase{"deadline: 0ms", 1, 11, "deadline: must be greater than zero"},
        ErrorCase{"deadline: 5 parsecs", 1, 11,
                  "unknown duration unit 'parsecs' in '5 parsecs'; valid units: ns, us, ms"},
        ErrorCase{"deadline: soon", 1, 11, "deadline: expected a duration such as 200us, 1.5ms or 2s, got 'soon'"},
        ErrorCase{"deadline: 99999999999999999999h", 1, 11, "is too long"},
        // YAML itself.
        ErrorCase{"channel: [kv\n", 2, 1, "YAML syntax error"},
        ErrorCase{"channel: kv\n  ordering: fifo\n", 2, 11, "YAML syntax error"},
        ErrorCase{"channel: kv\n---\nchannel: other\n", 2, 1, "a manifest is one YAML document"},
        ErrorCase{"channel: *undefined", 1, 10, "YAML syntax error"}));

TEST(ManifestYamlError, NestingIsBounded) {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  try {
    parse_manifest("channel: " + deep, "deep.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 1);
    EXPECT_EQ(e.column(), 10 + 63);  // the 65th level, counting the top-level mapping
    EXPECT_NE(e.message().find("nesting deeper than 64 levels"), std::string::npos) << e.what();
  }
  // Block-style nesting is bounded too, and a merely deep-ish document is fine.
  std::string block;
  for (int level = 0; level < 80; ++level) block += std::string(level * 2, ' ') + "k:\n";
  EXPECT_THROW(parse_manifest(block), ConfigError);
  EXPECT_THROW(parse_manifest("channel: " + std::string(60, '[') + std::string(60, ']')), ConfigError);
}

TEST(ManifestYamlError, SelfReferencingAliasIsHarmless) {
  EXPECT_THROW(parse_manifest("targets: &loop [*loop]"), ConfigError);
  EXPECT_THROW(parse_manifest("congestion_control: {algorithm: aimd, params: &p {a: *p}}"), ConfigError);
}

// ---- files --------------------------------------------------------------------------------------

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = (std::filesystem::temp_directory_path() /
             ("tmc_manifest_test_" + std::to_string(getpid()) + "_" + std::to_string(counter_++) + ".yaml"))
                .string();
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

TEST(ManifestYamlFile, LoadsAFileAndNamesItInErrors) {
  const TempFile good(kFullManifest);
  EXPECT_EQ(load_manifest_file(good.path()), parse_manifest(kFullManifest));
  const TempFile bad("channel: kv\nmtu: big\n");
  try {
    load_manifest_file(bad.path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), bad.path() + ":2:6: mtu: expected an integer in 576..65535, got 'big'");
  }
}

TEST(ManifestYamlFile, MissingFileIsAConfigError) {
  try {
    load_manifest_file("/nonexistent/tmc/manifest.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 0);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tmc/manifest.yaml:0:0: cannot open manifest"), std::string::npos)
        << e.what();
  }
}

TEST(ManifestYamlFile, EveryExampleInTheReferenceParses) {
  // docs/manifest.md: each ```yaml block is a complete manifest that must load.
  const auto doc = std::filesystem::path(__FILE__).parent_path() / "../../docs/manifest.md";
  std::ifstream file(doc);
  ASSERT_TRUE(file) << doc;
  std::string line, block;
  bool inside = false;
  int examples = 0, block_start = 0, line_number = 0;
  while (std::getline(file, line)) {
    ++line_number;
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
      block_start = line_number;
    } else if (inside && line == "```") {
      inside = false;
      ++examples;
      try {
        round_trip(block);
      } catch (const ConfigError& e) {
        ADD_FAILURE() << "docs/manifest.md example at line " << block_start << ": " << e.what() << "\n" << block;
      }
    } else if (inside) {
      block += line + "\n";
    }
  }
  EXPECT_GE(examples, 10);
}

// ---- value parsers ------------------------------------------------------------------------------

Duration duration(const std::string& text) { return parse_duration(YAML::Load(text), "v"); }
std::uint64_t size(const std::string& text) { return parse_byte_size(YAML::Load(text), "v"); }
double rate(const std::string& text) { return parse_rate_bytes(YAML::Load(text), "v"); }

TEST(ManifestYamlValues, Durations) {
  EXPECT_EQ(duration("200us"), 200us);
  EXPECT_EQ(duration("1.5ms"), 1500us);
  EXPECT_EQ(duration("2s"), 2s);
  EXPECT_EQ(duration("1m"), 60s);
  EXPECT_EQ(duration("2min"), 120s);
  EXPECT_EQ(duration("1h"), 3600s);
  EXPECT_EQ(duration("7ns"), 7ns);
  EXPECT_EQ(duration("0.25s"), 250ms);
  EXPECT_EQ(duration("10 ms"), 10ms);
  EXPECT_EQ(duration("0s"), 0s);
  EXPECT_THROW(duration("200"), ConfigError);
  EXPECT_THROW(duration("2 fortnights"), ConfigError);
  EXPECT_THROW(duration("-1s"), ConfigError);
  EXPECT_THROW(duration("1e3ms"), ConfigError);
  EXPECT_THROW(duration(".ms"), ConfigError);
  EXPECT_THROW(duration("[1s]"), ConfigError);
  EXPECT_EQ(format_duration(1500us), "1500us");
  EXPECT_EQ(format_duration(2s), "2s");
  EXPECT_EQ(format_duration(3ms), "3ms");
  EXPECT_EQ(format_duration(1234567ns), "1234567ns");
}

TEST(ManifestYamlValues, ByteSizes) {
  EXPECT_EQ(size("1500"), 1500u);
  EXPECT_EQ(size("1500B"), 1500u);
  EXPECT_EQ(size("64KiB"), 65536u);
  EXPECT_EQ(size("1MiB"), 1048576u);
  EXPECT_EQ(size("1.5KiB"), 1536u);
  EXPECT_EQ(size("1GB"), 1000000000u);
  EXPECT_EQ(size("2TiB"), 2199023255552u);
  EXPECT_EQ(size("18446744073709551615"), 18446744073709551615u);
  EXPECT_THROW(size("18446744073709551616"), ConfigError);
  EXPECT_THROW(size("16777216TiB"), ConfigError);
  EXPECT_THROW(size("1.5"), ConfigError);
  EXPECT_THROW(size("64 kibibytes"), ConfigError);
  EXPECT_THROW(size("-1"), ConfigError);
}

TEST(ManifestYamlValues, Rates) {
  EXPECT_DOUBLE_EQ(rate("1000"), 1000);
  EXPECT_DOUBLE_EQ(rate("100Mbit"), 12.5e6);
  EXPECT_DOUBLE_EQ(rate("100Mbit/s"), 12.5e6);
  EXPECT_DOUBLE_EQ(rate("100Mbps"), 12.5e6);
  EXPECT_DOUBLE_EQ(rate("1Gbit"), 125e6);
  EXPECT_DOUBLE_EQ(rate("10MB/s"), 10e6);
  EXPECT_DOUBLE_EQ(rate("1GiB/s"), 1073741824.0);
  EXPECT_DOUBLE_EQ(rate("8bit"), 1);
  EXPECT_THROW(rate("10MB"), ConfigError);  // a size, not a rate
  EXPECT_THROW(rate("fast"), ConfigError);
  EXPECT_THROW(rate("-1Mbit"), ConfigError);
  EXPECT_THROW(rate("1e9"), ConfigError);
}

TEST(ManifestYamlValues, ThrowAtReportsTheNodePosition) {
  const YAML::Node root = YAML::Load("a: 1\nb:\n  c: [x, y]\n");
  try {
    throw_at(root["b"]["c"][1], "f.yaml", "bad y");
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "f.yaml:3:10: bad y");
  }
  try {
    throw_at(root["missing"], "f.yaml", "no node");
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "f.yaml:0:0: no node");
  }
}

}  // namespace
}  // namespace tmc
