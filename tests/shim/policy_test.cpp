// Policy model and loader: matching, addresses, ports, per-message rules, group mapping, errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

namespace tmc::shim {
namespace {

InetEndpoint at(const char* address, std::uint16_t port) { return {*parse_ip(address), port}; }

std::span<const std::byte> bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

TEST(Address, CidrContainsV4AndV6) {
  auto net = *parse_cidr("10.1.0.0/16");
  EXPECT_TRUE(net.contains(*parse_ip("10.1.200.3")));
  EXPECT_FALSE(net.contains(*parse_ip("10.2.0.1")));
  EXPECT_FALSE(net.contains(*parse_ip("::1")));
  auto host = *parse_cidr("127.0.0.1");
  EXPECT_TRUE(host.contains(*parse_ip("127.0.0.1")));
  EXPECT_FALSE(host.contains(*parse_ip("127.0.0.2")));
  auto v6 = *parse_cidr("fd00::/8");
  EXPECT_TRUE(v6.contains(*parse_ip("fd12::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("fe80::1")));
  EXPECT_TRUE(parse_cidr("any")->contains(*parse_ip("::1")));
  EXPECT_FALSE(parse_cidr("10.0.0.0/33"));
  EXPECT_FALSE(parse_cidr("10.0.0/8"));
  EXPECT_FALSE(parse_cidr("::/129"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/"));
}

TEST(Address, EndpointParsing) {
  EXPECT_EQ(parse_endpoint("10.0.0.1:80")->to_string(), "10.0.0.1:80");
  EXPECT_EQ(parse_endpoint("[::1]:7000")->to_string(), "[::1]:7000");
  EXPECT_FALSE(parse_endpoint("::1:7000"));
  EXPECT_FALSE(parse_endpoint("10.0.0.1"));
  EXPECT_FALSE(parse_endpoint("10.0.0.1:65536"));
  EXPECT_FALSE(parse_endpoint("host:80"));
}

TEST(Policy, FirstMatchingRuleWins) {
  auto policy = parse_policy(R"(
rules:
  - name: narrow
    role: tcp-client
    destination: 10.0.0.0/24
    port: 80
    manifest: {reliability: all}
  - name: wide
    role: tcp-client
    destination: 10.0.0.0/8
    port: 1-1024
    manifest: {reliability: none}
  - name: server
    role: tcp-server
    port: 6379
    program: redis-server
    manifest: {reliability: all}
)",
                             "test.yaml");
  ASSERT_EQ(policy.rules.size(), 3u);
  EXPECT_EQ(policy.match(Role::tcp_client, at("10.0.0.7", 80), "x")->name, "narrow");
  EXPECT_EQ(policy.match(Role::tcp_client, at("10.9.0.7", 80), "x")->name, "wide");
  EXPECT_EQ(policy.match(Role::tcp_client, at("10.9.0.7", 1024), "x")->name, "wide");
  EXPECT_EQ(policy.match(Role::tcp_client, at("10.9.0.7", 1025), "x"), nullptr);
  EXPECT_EQ(policy.match(Role::tcp_client, at("11.0.0.1", 80), "x"), nullptr);
  EXPECT_EQ(policy.match(Role::udp_sender, at("10.0.0.7", 80), "x"), nullptr);
  EXPECT_EQ(policy.match(Role::tcp_server, at("0.0.0.0", 6379), "redis-server")->name, "server");
  EXPECT_EQ(policy.match(Role::tcp_server, at("0.0.0.0", 6379), "other"), nullptr);
  EXPECT_EQ(policy.rules[0].manifest.reliability->kind, Reliability::Kind::all);
  EXPECT_EQ(policy.rules[0].source, "test.yaml:3:5");
}

TEST(Policy, NamedManifestsFramingAndMessageRules) {
  auto policy = parse_policy(R"(
manifests:
  kv: {reliability: none, ordering: fifo}
rules:
  - role: tcp-client
    port: 6379
    manifest: kv
    framing: send-call
    messages:
      - prefix: "SET "
        ignore_case: true
        manifest: {reliability: all}
      - prefix_hex: "2a33"
        manifest: {reliability: all, deadline: 5ms}
)",
                             "p.yaml");
  const auto& rule = policy.rules.at(0);
  EXPECT_EQ(rule.name, "rule-1");
  EXPECT_EQ(rule.framing, Framing::send_call);
  EXPECT_EQ(rule.manifest.ordering, Ordering::fifo);
  EXPECT_EQ(rule.manifest.reliability->kind, Reliability::Kind::none);
  ASSERT_EQ(rule.messages.size(), 2u);
  ASSERT_NE(rule.manifest_for(bytes("set k v\n")), nullptr);
  EXPECT_EQ(rule.manifest_for(bytes("set k v\n"))->reliability->kind, Reliability::Kind::all);
  EXPECT_EQ(rule.manifest_for(bytes("GET k\n")), nullptr);
  EXPECT_EQ(rule.manifest_for(bytes("*3\r\n")), &rule.messages[1].manifest);
  EXPECT_EQ(rule.manifest_for(bytes("*")), nullptr);  // shorter than the prefix
  EXPECT_TRUE(rule.messages[1].manifest.deadline.has_value());
}

TEST(Policy, GroupMappingFillsMulticastMembers) {
  auto policy = parse_policy(R"(
rules:
  - role: udp-sender
    destination: 10.255.0.1
    port: 7000
    manifest: {reliability: all}
    group:
      members: ["10.0.1.1:7000", {name: b, address: "10.0.1.2:7000"}]
      multicast: "239.1.2.3:7000"
)",
                             "g.yaml");
  const auto& rule = policy.rules.at(0);
  ASSERT_TRUE(rule.group);
  ASSERT_EQ(rule.group->members.size(), 2u);
  EXPECT_EQ(rule.group->members[0].name, "member-0");
  EXPECT_EQ(rule.group->members[1].name, "b");
  ASSERT_TRUE(rule.manifest.multicast);
  EXPECT_EQ(rule.manifest.multicast->members.size(), 2u);
  EXPECT_EQ(rule.manifest.multicast->group, "239.1.2.3:7000");
}

TEST(Policy, ErrorsCarryFileLineColumn) {
  struct Case {
    const char* text;
    const char* position;
  };
  const Case cases[] = {
      {"rules:\n  - role: tcp-client\n    port: 70000\n    manifest: {reliability: all}\n", "e.yaml:3:11:"},
      {"rules:\n  - role: tcp-client\n    manifest: {reliability: sometimes}\n", "e.yaml:3:29:"},
      {"rules:\n  - role: tcp-client\n    manifest: {}\n    bogus: 1\n", "e.yaml:4:5:"},
      {"rules: {}\n", "e.yaml:1:8:"},
      {"rules:\n  - role: tcp-client\n    manifest: {reliability: all}\n    framing: send-call\n    messages:\n      - manifest: {}\n",
       "e.yaml:6:9:"},
  };
  for (const auto& test : cases) {
    try {
      parse_policy(test.text, "e.yaml");
      ADD_FAILURE() << "accepted: " << test.text;
    } catch (const ConfigError& error) {
      EXPECT_EQ(std::string(error.what()).rfind(test.position, 0), 0u) << error.what();
    }
  }
}

TEST(Policy, DeepNestingIsRejectedNotRecursed) {
  std::string text = "rules: " + std::string(100000, '[');
  EXPECT_THROW(parse_policy(text, "deep.yaml"), ConfigError);
}

TEST(Policy, ManifestFileRelativeToPolicy) {
  char directory[] = "/tmp/tmc-policy-test-XXXXXX";
  ASSERT_NE(::mkdtemp(directory), nullptr);
  std::string base = directory;
  std::ofstream(base + "/m.yaml") << "reliability: all\nordering: fifo\n";
  std::ofstream(base + "/p.yaml") << "rules:\n  - role: tcp-server\n    port: 1\n    manifest: m.yaml\n";
  auto policy = load_policy_file(base + "/p.yaml");
  EXPECT_EQ(policy.rules.at(0).manifest.ordering, Ordering::fifo);
  std::ofstream(base + "/q.yaml") << "rules:\n  - role: tcp-server\n    manifest: missing.yaml\n";
  EXPECT_THROW(load_policy_file(base + "/q.yaml"), ConfigError);
  std::remove((base + "/m.yaml").c_str());
  std::remove((base + "/p.yaml").c_str());
  std::remove((base + "/q.yaml").c_str());
  ::rmdir(directory);
}

TEST(Policy, LocateUsesEnvironment) {
  ::unsetenv("TMC_POLICY");
  ::setenv("TMC_POLICY_DIR", "/nonexistent-tmc-dir", 1);
  std::string error;
  EXPECT_EQ(locate_policy("prog", &error), "");
  EXPECT_TRUE(error.empty());
  ::setenv("TMC_POLICY", "/nonexistent-tmc-dir/p.yaml", 1);
  EXPECT_EQ(locate_policy("prog", &error), "");
  EXPECT_NE(error.find("/nonexistent-tmc-dir/p.yaml:0:0:"), std::string::npos) << error;
  ::unsetenv("TMC_POLICY");
  ::unsetenv("TMC_POLICY_DIR");
}

TEST(Policy, ShippedPoliciesLoad) {
  const char* root = TMC_SOURCE_DIR;
  for (const char* name : {"iperf3", "redis-server", "redis-cli", "redis-benchmark", "sockperf", "memcached",
                           "examples/length-prefixed", "examples/line", "examples/per-message",
                           "examples/group-mapping", "examples/udp-reliable"}) {
    std::string path = std::string(root) + "/policies/" + name + ".yaml";
    EXPECT_NO_THROW(load_policy_file(path)) << path;
  }
}

}  // namespace
}  // namespace tmc::shim
