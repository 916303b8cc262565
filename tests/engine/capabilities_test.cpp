// Capabilities file parsing and the transport plan it produces for a manifest.
#include <gtest/gtest.h>

#include "tmc/capabilities.h"
#include "tmc/manifest_yaml.h"

namespace tmc {
namespace {

Manifest group_manifest() {
  Manifest manifest;
  manifest.channel = "kv";
  manifest.multicast = Multicast{.members = {{"a", "10.0.0.1:7000"}, {"b", "10.0.0.2:7000"}, {"c", "10.0.0.3:7000"}},
                                 .group = "239.1.2.3:7000"};
  manifest.ordering = Ordering::total;
  Reliability reliability;
  reliability.kind = Reliability::Kind::all;
  manifest.reliability = reliability;
  manifest.error_checking = ErrorChecking::crc32c;
  return manifest;
}

std::string error_of(const std::string& yaml) {
  try {
    parse_capabilities(yaml, "caps.yaml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(CapabilitiesFile, HostsInheritDefaults) {
  auto capabilities = parse_capabilities(R"(
defaults:
  mtu: 9000
  checksum_offload: true
hosts:
  a: {ip_multicast: true, ebpf_fanout: true}
  b:
    mtu: 1500
sequencer: "10.0.0.9:7100"
)", "caps.yaml");
  EXPECT_EQ(capabilities.source, "caps.yaml");
  EXPECT_EQ(capabilities.sequencer, "10.0.0.9:7100");
  EXPECT_EQ(capabilities.host("a"), (HostCapabilities{.checksum_offload = true, .ip_multicast = true, .ebpf_fanout = true, .mtu = 9000}));
  EXPECT_EQ(capabilities.host("b"), (HostCapabilities{.checksum_offload = true, .mtu = 1500}));
  EXPECT_EQ(capabilities.host("unlisted"), (HostCapabilities{.checksum_offload = true, .mtu = 9000}));
  EXPECT_FALSE(capabilities.listed("unlisted"));
  EXPECT_EQ(parse_capabilities("").hosts.size(), 0u);
}

TEST(CapabilitiesFile, MalformedFilesNameFileLineAndColumn) {
  // The wording of value errors comes from the shared YAML value parsers; position and key are ours.
  std::string mtu = error_of("hosts:\n  a: {mtu: 100}\n");
  EXPECT_EQ(mtu.rfind("caps.yaml:2:12: hosts.a.mtu: ", 0), 0u) << mtu;
  EXPECT_NE(mtu.find("576"), std::string::npos) << mtu;
  EXPECT_EQ(error_of("hosts:\n  a:\n    checksum_offlaod: true\n"),
            "caps.yaml:3:5: hosts.a.checksum_offlaod: unknown key (known: checksum_offload, ip_multicast, ebpf_fanout, mtu)");
  EXPECT_EQ(error_of("defaults: {ip_multicast: yes}\n"), "caps.yaml:1:26: defaults.ip_multicast: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("host: {}\n"), "caps.yaml:1:1: unknown key 'host' (known: defaults, hosts, sequencer)");
  std::string list = error_of("hosts: [a, b]\n");
  EXPECT_EQ(list.rfind("caps.yaml:1:8: hosts: expected a mapping of host name to capabilities, got ", 0), 0u) << list;
  std::string syntax = error_of("hosts:\n  a: {mtu: 1500\n");
  EXPECT_EQ(syntax.rfind("caps.yaml:", 0), 0u) << syntax;
  EXPECT_NE(syntax.find("caps.yaml:3:"), std::string::npos) << syntax;
}

TEST(TransportPlan, NothingDeclaredMeansSoftwareEverything) {
  TransportPlan plan = plan_transport(group_manifest(), parse_capabilities("", "caps.yaml"), "a");
  EXPECT_TRUE(plan.software_checksum);
  EXPECT_FALSE(plan.nic_checksum);
  EXPECT_EQ(plan.fanout, Fanout::user_space_unicast);
  EXPECT_EQ(plan.mtu, 1500u);
  EXPECT_EQ(plan.sequencer_candidates, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(plan.to_string(),
            "duplexity: full -- data and control in both directions\n"
            "synchronicity: blocking -- send() waits while credit or pacing holds the message; recv() blocks\n"
            "mtu: 1500 -- smallest MTU declared for the member hosts (a) in caps.yaml\n"
            "error_checking: crc32c (software) -- checksum_offload not declared for a, b, c in caps.yaml\n"
            "multicast: user-space-fanout -- ip_multicast not declared for a, b, c in caps.yaml; ebpf_fanout not "
            "permitted on a: one UDP send per member\n"
            "ordering: total (sequencer a) -- no sequencer declared in caps.yaml: the lowest-named member; failover "
            "order a, b, c; reliable: missing stamps are requested\n"
            "congestion_control: none -- not requested: window unlimited\n"
            "pacing: unpaced -- no manifest rate and no congestion control\n"
            "flow_control: none -- not requested: a slow receiver drops or queues\n");
}

TEST(TransportPlan, OffloadAndMulticastEverywhereMoveWorkToTheFabric) {
  auto capabilities = parse_capabilities(R"(
defaults: {checksum_offload: true, ip_multicast: true, mtu: 9000}
sequencer: "10.0.0.9:7100"
)", "caps.yaml");
  TransportPlan plan = plan_transport(group_manifest(), capabilities, "b");
  EXPECT_TRUE(plan.nic_checksum);
  EXPECT_FALSE(plan.software_checksum);
  EXPECT_EQ(plan.fanout, Fanout::ip_multicast);
  EXPECT_EQ(plan.mtu, 9000u);
  EXPECT_EQ(plan.find("error_checking")->implementation, "nic-offload");
  EXPECT_EQ(plan.find("multicast")->implementation, "ip-multicast 239.1.2.3:7000");
  EXPECT_EQ(plan.sequencer_candidates, (std::vector<std::string>{"10.0.0.9:7100", "a", "b", "c"}));
  EXPECT_EQ(plan.find("ordering")->implementation, "total (dedicated sequencer 10.0.0.9:7100)");
}

TEST(TransportPlan, PartialMulticastFallsBackToEbpfWherePermittedThenUserSpace) {
  auto capabilities = parse_capabilities(R"(
hosts:
  a: {ip_multicast: true, ebpf_fanout: true, checksum_offload: true}
  b: {ip_multicast: true, checksum_offload: true, mtu: 9000}
  c: {mtu: 4000}
)", "caps.yaml");
  TransportPlan from_a = plan_transport(group_manifest(), capabilities, "a");
  EXPECT_EQ(from_a.fanout, Fanout::ebpf);
  EXPECT_EQ(from_a.find("multicast")->reason,
            "ip_multicast not declared for c in caps.yaml; ebpf_fanout permitted on a: one send, cloned to each member "
            "by the tc egress program");
  EXPECT_EQ(from_a.find("error_checking")->reason, "checksum_offload not declared for c in caps.yaml");
  EXPECT_EQ(from_a.mtu, 1500u);  // a is on the default
  TransportPlan from_b = plan_transport(group_manifest(), capabilities, "b");
  EXPECT_EQ(from_b.fanout, Fanout::user_space_unicast);
  Manifest no_group = group_manifest();
  no_group.multicast->group.clear();
  EXPECT_EQ(plan_transport(no_group, capabilities, "a").find("multicast")->reason.rfind("the manifest names no multicast group", 0), 0u);
  Manifest small = group_manifest();
  small.mtu = 1280;
  EXPECT_EQ(plan_transport(small, capabilities, "a").mtu, 1280u);
}

TEST(TransportPlan, SimplexHasNoReturnPath) {
  Manifest manifest = group_manifest();
  manifest.duplexity = Duplexity::send_only;
  EXPECT_THROW(plan_transport(manifest, {}, "a"), std::invalid_argument);  // reliability needs acks
  manifest.reliability.reset();
  // Total order needs members to reach the sequencer and, on failover, VIEW_CHANGE messages.
  EXPECT_THROW(plan_transport(manifest, {}, "a"), std::invalid_argument);
  manifest.ordering.reset();
  TransportPlan plan = plan_transport(manifest, {}, "a");
  EXPECT_FALSE(plan.return_path);
  EXPECT_EQ(plan.find("duplexity")->implementation, "simplex (send-only)");
  manifest.flow_control = FlowControl{};
  EXPECT_THROW(plan_transport(manifest, {}, "a"), std::invalid_argument);
}

TEST(TransportPlan, CongestionPacingAndFlowControlAreDescribed) {
  Manifest manifest = group_manifest();
  CongestionControl congestion;
  congestion.algorithm = "loss-tolerant";
  manifest.congestion_control = congestion;
  manifest.pacing = Pacing{.rate_bytes_per_second = 125e6, .burst_bytes = 64 * 1024};
  manifest.flow_control = FlowControl{.window_bytes = 4 * 1024 * 1024};
  TransportPlan plan = plan_transport(manifest, {}, "a");
  EXPECT_EQ(plan.find("congestion_control")->implementation, "loss-tolerant");
  EXPECT_EQ(plan.find("pacing")->implementation, "token-bucket 1e+03 Mbit/s, burst 64 KiB");
  EXPECT_EQ(plan.find("flow_control")->implementation, "credit window 4 MiB");
}

}  // namespace
}  // namespace tmc
