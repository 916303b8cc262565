// Scalar value parsers shared by the manifest loader and the other YAML loaders. The public
// entry points (tmc/manifest_yaml.h) are these with an empty label; the loader passes the key
// path ("reliability.min_rto") so that every message names the key it is about.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "tmc/manifest_yaml.h"

namespace tmc::yaml_detail {

// "label: " or "" when label is empty.
std::string prefix(const std::string& label);
// `text` fit for a message: control bytes escaped as \xNN, cut after 60 bytes.
std::string printable(const std::string& text);
// A short description of what a node holds, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node);

// Durations: a decimal number and a unit (ns, us, ms, s, m, h); no negatives, no bare numbers.
Duration duration_at(const YAML::Node& node, const std::string& source, const std::string& label);
// Byte sizes: whole bytes (1500) or a number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB).
std::uint64_t byte_size_at(const YAML::Node& node, const std::string& source, const std::string& label);
// Rates in bytes per second: a bare number, bits (100Mbit, 1Gbps) or bytes (10MB/s, 1GiB/s).
double rate_at(const YAML::Node& node, const std::string& source, const std::string& label);
// A fraction in (0, 1].
double fraction_at(const YAML::Node& node, const std::string& source, const std::string& label);
// A decimal integer in [min, max].
std::uint64_t unsigned_at(const YAML::Node& node, const std::string& source, const std::string& label,
                          std::uint64_t min, std::uint64_t max);

}  // namespace tmc::yaml_detail
