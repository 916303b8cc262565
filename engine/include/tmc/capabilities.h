// Capabilities file: what the network operator declares about the hosts (YAML), and the
// compilation of a manifest against it into a transport plan — which implementation each
// primitive gets, and why.
//
//   # capabilities.yaml
//   defaults:                 # every host not listed below (all keys optional)
//     checksum_offload: false # NIC computes and verifies UDP checksums
//     ip_multicast: false     # the fabric routes IP multicast to this host
//     ebpf_fanout: false      # TMC may attach its tc fan-out program on this host
//     mtu: 1500               # IP MTU of the host's interface
//   hosts:
//     a: {checksum_offload: true, ip_multicast: true, ebpf_fanout: true, mtu: 9000}
//     b: {checksum_offload: true, ip_multicast: true, mtu: 9000}
//   sequencer: "10.0.0.9:7100"   # total order: a dedicated sequencer process, or a member name
//
// Host keys are member names of the manifests (multicast.members[].name).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tmc/manifest.h"

namespace tmc {

struct HostCapabilities {
  bool checksum_offload = false;
  bool ip_multicast = false;
  bool ebpf_fanout = false;
  std::uint32_t mtu = 1500;
  bool operator==(const HostCapabilities&) const = default;
};

struct Capabilities {
  std::string source;  // file name, for plan reasons
  HostCapabilities defaults;
  std::map<std::string, HostCapabilities> hosts;
  std::string sequencer;  // "" = none declared
  const HostCapabilities& host(const std::string& name) const {
    auto it = hosts.find(name);
    return it == hosts.end() ? defaults : it->second;
  }
  bool listed(const std::string& name) const { return hosts.count(name) > 0; }
};

// Throws tmc::ConfigError ("FILE:LINE:COL: message") for malformed files: YAML syntax, unknown
// keys (listing the known ones), wrong types, MTU outside [576, 65535].
Capabilities parse_capabilities(const std::string& yaml_text, const std::string& source = "<string>");
Capabilities load_capabilities_file(const std::string& path);

// One decision of the plan: feature (manifest key or "transport"), the chosen implementation,
// and the reason in words.
struct PlanChoice {
  std::string feature;
  std::string implementation;
  std::string reason;
  bool operator==(const PlanChoice&) const = default;
};

enum class Fanout { single_destination, user_space_unicast, ebpf, ip_multicast };
const char* to_string(Fanout);

struct TransportPlan {
  std::vector<PlanChoice> choices;  // in pipeline order
  // The same decisions as data, for the channel core:
  bool software_checksum = false;  // compute/verify CRC32C in software
  bool nic_checksum = false;       // error checking left to the NIC offload
  Fanout fanout = Fanout::single_destination;
  std::uint32_t mtu = 1500;
  std::vector<std::string> sequencer_candidates;  // total order: failover order, first = initial sequencer
  bool return_path = true;  // false for simplex (send_only / receive_only): no acks, credit, stamp requests

  const PlanChoice* find(const std::string& feature) const;
  // "feature: implementation — reason" lines, as Channel::plan() and `tmc plan` print them.
  std::string to_string() const;
};

// Compiles an effective manifest against the capabilities for the endpoint `self` (a member
// name, or "" for a sender outside the member list). Throws std::invalid_argument when the
// manifest cannot be realised (reliability on a simplex channel, an unknown congestion
// control name or module that does not load is checked by create_congestion_controller).
TransportPlan plan_transport(const Manifest& manifest, const Capabilities& capabilities, const std::string& self = "");

}  // namespace tmc
