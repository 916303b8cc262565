// Compiling a manifest against the operator's capabilities into a transport plan.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "tmc/capabilities.h"

namespace tmc {
namespace {

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

std::string bytes_text(double bytes) {
  char text[64];
  if (bytes >= 1024.0 * 1024 && static_cast<std::uint64_t>(bytes) % (1024 * 1024) == 0)
    std::snprintf(text, sizeof text, "%.0f MiB", bytes / (1024.0 * 1024));
  else if (bytes >= 1024 && static_cast<std::uint64_t>(bytes) % 1024 == 0)
    std::snprintf(text, sizeof text, "%.0f KiB", bytes / 1024);
  else
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  return text;
}

std::string rate_text(double bytes_per_second) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3g Mbit/s", bytes_per_second * 8 / 1e6);
  return text;
}

}  // namespace

const char* to_string(Fanout fanout) {
  switch (fanout) {
    case Fanout::single_destination: return "single-destination";
    case Fanout::user_space_unicast: return "user-space-fanout";
    case Fanout::ebpf: return "ebpf-fanout";
    case Fanout::ip_multicast: return "ip-multicast";
  }
  return "?";
}

const PlanChoice* TransportPlan::find(const std::string& feature) const {
  for (const auto& choice : choices)
    if (choice.feature == feature) return &choice;
  return nullptr;
}

std::string TransportPlan::to_string() const {
  std::string text;
  for (const auto& choice : choices) text += choice.feature + ": " + choice.implementation + " -- " + choice.reason + "\n";
  return text;
}

TransportPlan plan_transport(const Manifest& manifest, const Capabilities& capabilities, const std::string& self) {
  TransportPlan plan;
  const std::string from = capabilities.source.empty() ? "capabilities" : capabilities.source;
  std::vector<std::string> hosts;  // every endpoint of the channel
  if (manifest.multicast)
    for (const auto& member : manifest.multicast->members) hosts.push_back(member.name);
  if (!self.empty() && std::find(hosts.begin(), hosts.end(), self) == hosts.end()) hosts.push_back(self);
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  auto lacking = [&](bool HostCapabilities::*feature) {
    std::vector<std::string> names;
    for (const auto& host : hosts)
      if (!(capabilities.host(host).*feature)) names.push_back(host);
    return names;
  };
  const std::size_t peers = std::count_if(hosts.begin(), hosts.end(), [&](const std::string& h) { return h != self; });

  // Duplexity first: it decides whether anything can come back.
  const Duplexity duplexity = manifest.duplexity.value_or(Duplexity::full);
  plan.return_path = duplexity == Duplexity::full || duplexity == Duplexity::half;
  if (!plan.return_path) {
    const char* name = to_string(duplexity);
    if (manifest.reliability && manifest.reliability->kind != Reliability::Kind::none)
      throw std::invalid_argument(std::string("duplexity: ") + name +
                                  " has no return path, so reliability (acknowledgements) is impossible; use full or half");
    if (manifest.flow_control)
      throw std::invalid_argument(std::string("duplexity: ") + name +
                                  " has no return path, so flow_control (receiver credit) is impossible; use full or half");
    if (manifest.ordering == Ordering::total)
      throw std::invalid_argument(std::string("duplexity: ") + name +
                                  " has no return path, so ordering: total (messages to the sequencer, stamp requests) "
                                  "is impossible; use full or half");
    if (manifest.congestion_control && manifest.congestion_control->algorithm != "none")
      throw std::invalid_argument(std::string("duplexity: ") + name +
                                  " has no return path, so congestion_control needs 'none' (no acks to learn from)");
    plan.choices.push_back({"duplexity", std::string("simplex (") + name + ")",
                            duplexity == Duplexity::send_only
                                ? "publish-only: no acks, credit grants or stamp requests are sent or expected"
                                : "subscribe-only: nothing is ever sent back to the senders"});
  } else if (duplexity == Duplexity::half) {
    plan.choices.push_back({"duplexity", "half",
                            "data flows one way at a time; control packets (acks, credit) still return"});
  } else {
    plan.choices.push_back({"duplexity", "full", "data and control in both directions"});
  }

  const Synchronicity synchronicity = manifest.synchronicity.value_or(Synchronicity::blocking);
  plan.choices.push_back(
      {"synchronicity", to_string(synchronicity),
       synchronicity == Synchronicity::blocking
           ? "send() waits while credit or pacing holds the message; recv() blocks"
           : "send() returns a Completion at once (refused when sender memory is full); messages go to on_message()"});

  // Path MTU: the smallest declared by any endpoint.
  std::uint32_t path_mtu = 65535;
  std::string smallest;
  for (const auto& host : hosts) {
    if (capabilities.host(host).mtu < path_mtu) {
      path_mtu = capabilities.host(host).mtu;
      smallest = host;
    }
  }
  if (hosts.empty()) path_mtu = capabilities.defaults.mtu;
  std::string mtu_reason = hosts.empty() ? "no member hosts: the " + from + " default"
                                         : "smallest MTU declared for the member hosts (" + smallest + ") in " + from;
  plan.mtu = path_mtu;
  if (manifest.mtu && *manifest.mtu < path_mtu) {
    plan.mtu = *manifest.mtu;
    mtu_reason = "the manifest asks for less than the path MTU " + std::to_string(path_mtu);
  } else if (manifest.mtu && *manifest.mtu > path_mtu) {
    mtu_reason = "the manifest asks for " + std::to_string(*manifest.mtu) + " but " + smallest + " declares " +
                 std::to_string(path_mtu) + " in " + from;
  }
  plan.choices.push_back({"mtu", std::to_string(plan.mtu), mtu_reason});

  // Error checking: the NIC when every endpoint offloads checksums.
  const ErrorChecking checking = manifest.error_checking.value_or(ErrorChecking::none);
  if (checking == ErrorChecking::crc32c) {
    auto missing = lacking(&HostCapabilities::checksum_offload);
    if (!hosts.empty() && missing.empty()) {
      plan.nic_checksum = true;
      plan.choices.push_back({"error_checking", "nic-offload",
                              "checksum_offload declared for every member host (" + join(hosts) + ") in " + from +
                                  ": the NICs compute and verify UDP checksums, no software CRC32C"});
    } else {
      plan.software_checksum = true;
      plan.choices.push_back({"error_checking", "crc32c (software)",
                              hosts.empty() ? "no member hosts to offload to"
                                            : "checksum_offload not declared for " + join(missing) + " in " + from});
    }
  } else {
    plan.choices.push_back({"error_checking", "none", "the manifest asks for none (UDP checksum only)"});
  }

  // Fan-out for multicast.
  if (peers <= 1) {
    plan.fanout = Fanout::single_destination;
    plan.choices.push_back({"multicast", ::tmc::to_string(plan.fanout), "one destination: plain UDP unicast"});
  } else {
    const std::string group = manifest.multicast ? manifest.multicast->group : "";
    auto missing = lacking(&HostCapabilities::ip_multicast);
    std::string why_not;
    if (!group.empty() && missing.empty()) {
      plan.fanout = Fanout::ip_multicast;
      plan.choices.push_back({"multicast", "ip-multicast " + group,
                              "ip_multicast declared for every member host in " + from + ": one send reaches all " +
                                  std::to_string(hosts.size()) + " members"});
    } else {
      why_not = group.empty() ? "the manifest names no multicast group"
                              : "ip_multicast not declared for " + join(missing) + " in " + from;
      const bool ebpf = !self.empty() && capabilities.host(self).ebpf_fanout;
      if (ebpf) {
        plan.fanout = Fanout::ebpf;
        plan.choices.push_back({"multicast", "ebpf-fanout",
                                why_not + "; ebpf_fanout permitted on " + self +
                                    ": one send, cloned to each member by the tc egress program"});
      } else {
        plan.fanout = Fanout::user_space_unicast;
        plan.choices.push_back({"multicast", "user-space-fanout",
                                why_not + "; ebpf_fanout not permitted on " + (self.empty() ? "this host" : self) +
                                    ": one UDP send per member"});
      }
    }
  }

  // Total order: who sequences, and the failover order.
  if (manifest.ordering == Ordering::total) {
    std::vector<std::string> members;
    if (manifest.multicast)
      for (const auto& member : manifest.multicast->members) members.push_back(member.name);
    std::sort(members.begin(), members.end());
    // Preference: the manifest's sequencer, the capabilities file's, then the members by name.
    auto add_candidate = [&](const std::string& name) {
      if (!name.empty() && std::find(plan.sequencer_candidates.begin(), plan.sequencer_candidates.end(), name) ==
                               plan.sequencer_candidates.end())
        plan.sequencer_candidates.push_back(name);
    };
    add_candidate(manifest.sequencer.value_or(""));
    add_candidate(capabilities.sequencer);
    for (const auto& member : members) add_candidate(member);
    if (plan.sequencer_candidates.empty())
      throw std::invalid_argument("ordering: total needs multicast members or a sequencer in the capabilities file");
    const bool unreliable = !manifest.reliability || manifest.reliability->kind == Reliability::Kind::none;
    const std::string& first = plan.sequencer_candidates.front();
    const bool dedicated = std::find(members.begin(), members.end(), first) == members.end();
    std::string reason = manifest.sequencer ? "sequencer named by the manifest"
                         : capabilities.sequencer.empty()
                             ? "no sequencer declared in " + from + ": the lowest-named member"
                         : dedicated ? "sequencer declared in " + from + ": not a member, a `tmc sequencer` process there"
                                       " stamps; the members by name take over when it goes silent"
                                     : "sequencer declared in " + from;
    reason += "; failover order " + join(plan.sequencer_candidates) +
              (unreliable ? "; unreliable: a gap is reported to on_gap() once, never a stall"
                          : "; reliable: missing stamps are requested");
    plan.choices.push_back({"ordering", std::string("total (") + (dedicated ? "dedicated sequencer " : "sequencer ") + first + ")",
                            reason});
  }

  if (manifest.ordering == Ordering::module && manifest.ordering_module) {
    const OrderingModule& ordering = *manifest.ordering_module;
    plan.choices.push_back({"ordering", ordering.name + " (module " + ordering.module + ")",
                            "named by the manifest; loaded through the module ABI (version 2); sent like fifo "
                            "(TMC_FLAG_ORDERED, per-stream sequences), delivery decided by the receiver's module"});
  }

  // Congestion control, pacing, flow control.
  const CongestionControl congestion = manifest.congestion_control.value_or(CongestionControl{});
  if (!congestion.module.empty()) {
    plan.choices.push_back({"congestion_control", congestion.algorithm + " (module " + congestion.module + ")",
                            "named by the manifest; loaded through the module ABI"});
  } else {
    plan.choices.push_back({"congestion_control", congestion.algorithm,
                            congestion.algorithm == "none" ? "not requested: window unlimited" : "named by the manifest"});
  }
  if (manifest.pacing && manifest.pacing->rate_bytes_per_second > 0) {
    plan.choices.push_back({"pacing",
                            "token-bucket " + rate_text(manifest.pacing->rate_bytes_per_second) + ", burst " +
                                bytes_text(static_cast<double>(manifest.pacing->burst_bytes)),
                            congestion.algorithm == "none" ? "the manifest's rate"
                                                           : "the lower of the manifest's rate and the congestion "
                                                             "controller's pacing rate"});
  } else if (congestion.algorithm != "none") {
    plan.choices.push_back({"pacing", "token-bucket at the congestion controller's rate", "no manifest rate"});
  } else {
    plan.choices.push_back({"pacing", "unpaced", "no manifest rate and no congestion control"});
  }
  if (manifest.flow_control) {
    plan.choices.push_back({"flow_control", "credit window " + bytes_text(static_cast<double>(manifest.flow_control->window_bytes)),
                            "receivers grant credit (TMC_TYPE_CREDIT); a slow receiver stops its senders, sender "
                            "memory is bounded by the window"});
  } else {
    plan.choices.push_back({"flow_control", "none", "not requested: a slow receiver drops or queues"});
  }
  return plan;
}

}  // namespace tmc
