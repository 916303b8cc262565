// Loading manifests from YAML. Errors name the key and the position as file:line:column.
#pragma once

#include <stdexcept>
#include <string>

#include "tmc/manifest.h"

namespace YAML {
class Node;
}

namespace tmc {

// Thrown for malformed manifests (and reused by the shim's policy loader). what() reads
// "FILE:LINE:COL: message"; line and column are 1-based, 0 when unknown.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  int column_;
  std::string message_;
};

// Parses a manifest mapping. `source` names the file in error messages.
Manifest manifest_from_yaml(const YAML::Node& node, const std::string& source);
Manifest parse_manifest(const std::string& yaml_text, const std::string& source = "<string>");
Manifest load_manifest_file(const std::string& path);

// Value parsers shared with other YAML loaders (policies, capabilities, experiments).
// Each throws ConfigError pointing at `node`.
Duration parse_duration(const YAML::Node& node, const std::string& source);       // "200us", "1.5ms", "2s"
std::uint64_t parse_byte_size(const YAML::Node& node, const std::string& source); // "64KiB", "1MiB", 1500
double parse_rate_bytes(const YAML::Node& node, const std::string& source);       // "100Mbit", "1GB/s"
// Loads `text` as exactly one YAML document for every YAML loader of the project. Before any
// node tree is built it refuses nesting deeper than `max_nesting` (so no input can drive
// yaml-cpp's recursive node construction into the stack limit) and a second document; syntax
// errors become ConfigError with their position. `what` names the document in messages
// ("manifest", "policy").
YAML::Node load_yaml_document(const std::string& text, const std::string& source, const std::string& what,
                              int max_nesting);

[[noreturn]] void throw_at(const YAML::Node& node, const std::string& source, const std::string& message);

// Writes `manifest` as YAML that parse_manifest reads back to an equal Manifest (for logs, plans
// and tests). Unset features are omitted; an empty manifest gives "{}".
std::string manifest_to_yaml(const Manifest& manifest);
// The largest of s, ms, us, ns that represents `duration` exactly: "2s", "1500us", "0s".
std::string format_duration(Duration duration);
// Names of the built-in congestion control algorithms ("none", "fixed-window", "aimd",
// "loss-tolerant"); any other name needs a `module:`.
bool is_builtin_congestion_control(const std::string& name);

}  // namespace tmc
