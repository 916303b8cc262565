// Manifest -> YAML, the inverse of the loader: parse_manifest(manifest_to_yaml(m)) == m for every
// manifest the loader accepts (the fuzzer checks this on every input that parses).
#include <charconv>

#include "tmc/manifest_yaml.h"
#include "yaml_values.h"

namespace tmc {

namespace {

// Shortest fixed-notation text that reads back to the same double (the loader takes no exponents).
std::string format_number(double value) {
  char buffer[512];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

void emit_names(YAML::Emitter& out, const std::vector<std::string>& names) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& name : names) out << name;
  out << YAML::EndSeq;
}

void emit_fraction(YAML::Emitter& out, double fraction) {
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "fraction" << YAML::Value << format_number(fraction)
      << YAML::EndMap;
}

void emit_acks(YAML::Emitter& out, const Reliability& reliability) {
  switch (reliability.kind) {
    case Reliability::Kind::none:
      out << "none";
      break;
    case Reliability::Kind::all:
      out << "all";
      break;
    case Reliability::Kind::subset:
      emit_names(out, reliability.names);
      break;
    case Reliability::Kind::fraction:
      emit_fraction(out, reliability.fraction);
      break;
  }
}

void emit_reliability(YAML::Emitter& out, const Reliability& reliability) {
  const Reliability defaults;
  const bool default_timers = reliability.min_rto == defaults.min_rto && reliability.max_rto == defaults.max_rto &&
                              reliability.initial_rto == defaults.initial_rto &&
                              reliability.window == defaults.window &&
                              reliability.member_timeout == defaults.member_timeout &&
                              reliability.max_ack_delay == defaults.max_ack_delay;
  if (default_timers) {
    emit_acks(out, reliability);
    return;
  }
  out << YAML::BeginMap << YAML::Key << "acks" << YAML::Value;
  emit_acks(out, reliability);
  // Only what differs from the defaults: the loader checks initial_rto against [min_rto, max_rto]
  // only when it is given, and a code-built manifest may hold any combination.
  if (reliability.min_rto != defaults.min_rto) {
    out << YAML::Key << "min_rto" << YAML::Value << format_duration(reliability.min_rto);
  }
  if (reliability.max_rto != defaults.max_rto) {
    out << YAML::Key << "max_rto" << YAML::Value << format_duration(reliability.max_rto);
  }
  if (reliability.initial_rto != defaults.initial_rto) {
    out << YAML::Key << "initial_rto" << YAML::Value << format_duration(reliability.initial_rto);
  }
  if (reliability.window != defaults.window) {
    out << YAML::Key << "window" << YAML::Value << std::to_string(reliability.window);
  }
  if (reliability.member_timeout != defaults.member_timeout) {
    out << YAML::Key << "member_timeout" << YAML::Value << format_duration(reliability.member_timeout);
  }
  if (reliability.max_ack_delay != defaults.max_ack_delay) {
    out << YAML::Key << "max_ack_delay" << YAML::Value << format_duration(reliability.max_ack_delay);
  }
  out << YAML::EndMap;
}

void emit_congestion_control(YAML::Emitter& out, const CongestionControl& control) {
  if (control.module.empty() && control.params.empty()) {
    out << control.algorithm;
    return;
  }
  out << YAML::BeginMap;
  if (control.module.empty()) {
    out << YAML::Key << "algorithm" << YAML::Value << control.algorithm;
  } else {
    out << YAML::Key << "module" << YAML::Value << control.module;
    out << YAML::Key << "name" << YAML::Value << control.algorithm;
  }
  if (!control.params.empty()) {
    out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : control.params) out << YAML::Key << key << YAML::Value << value;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

}  // namespace

std::string manifest_to_yaml(const Manifest& manifest) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (manifest.channel) out << YAML::Key << "channel" << YAML::Value << *manifest.channel;
  if (manifest.multicast) {
    out << YAML::Key << "multicast" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "members" << YAML::Value << YAML::BeginSeq;
    for (const Member& member : manifest.multicast->members) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << member.name << YAML::Key << "address"
          << YAML::Value << member.address << YAML::EndMap;
    }
    out << YAML::EndSeq;
    if (!manifest.multicast->group.empty()) out << YAML::Key << "group" << YAML::Value << manifest.multicast->group;
    out << YAML::EndMap;
  }
  if (manifest.targets) {
    out << YAML::Key << "targets" << YAML::Value;
    switch (manifest.targets->kind) {
      case Targets::Kind::all:
        out << "all";
        break;
      case Targets::Kind::subset:
        emit_names(out, manifest.targets->names);
        break;
      case Targets::Kind::fraction:
        emit_fraction(out, manifest.targets->fraction);
        break;
    }
  }
  if (manifest.ordering == Ordering::module && manifest.ordering_module) {
    const OrderingModule& ordering = *manifest.ordering_module;
    out << YAML::Key << "ordering" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "module" << YAML::Value << ordering.module;
    out << YAML::Key << "name" << YAML::Value << ordering.name;
    if (!ordering.params.empty()) {
      out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
      for (const auto& [key, value] : ordering.params) out << YAML::Key << key << YAML::Value << value;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  } else if (manifest.ordering) {
    out << YAML::Key << "ordering" << YAML::Value << to_string(*manifest.ordering);
  }
  if (manifest.reliability) {
    out << YAML::Key << "reliability" << YAML::Value;
    emit_reliability(out, *manifest.reliability);
  }
  if (manifest.error_checking) {
    out << YAML::Key << "error_checking" << YAML::Value << to_string(*manifest.error_checking);
  }
  if (manifest.mtu) out << YAML::Key << "mtu" << YAML::Value << std::to_string(*manifest.mtu);
  if (manifest.pacing) {
    out << YAML::Key << "pacing" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "rate" << YAML::Value << format_number(manifest.pacing->rate_bytes_per_second);
    out << YAML::Key << "burst" << YAML::Value << std::to_string(manifest.pacing->burst_bytes);
    out << YAML::EndMap;
  }
  if (manifest.flow_control) {
    out << YAML::Key << "flow_control" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "window"
        << YAML::Value << std::to_string(manifest.flow_control->window_bytes) << YAML::EndMap;
  }
  if (manifest.congestion_control) {
    out << YAML::Key << "congestion_control" << YAML::Value;
    emit_congestion_control(out, *manifest.congestion_control);
  }
  if (manifest.synchronicity) {
    out << YAML::Key << "synchronicity" << YAML::Value << to_string(*manifest.synchronicity);
  }
  if (manifest.duplexity) out << YAML::Key << "duplexity" << YAML::Value << to_string(*manifest.duplexity);
  if (manifest.deadline) out << YAML::Key << "deadline" << YAML::Value << format_duration(*manifest.deadline);
  if (manifest.sequencer) out << YAML::Key << "sequencer" << YAML::Value << *manifest.sequencer;
  out << YAML::EndMap;
  return out.c_str();
}

}  // namespace tmc
