// Capabilities file loader (YAML). Errors are tmc::ConfigError with file:line:col.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "manifest/yaml_values.h"
#include "tmc/capabilities.h"
#include "tmc/manifest_yaml.h"

namespace tmc {
namespace {

constexpr std::uint64_t kMinimumMtu = 576;   // RFC 791: every host must accept 576-byte datagrams
constexpr std::uint64_t kMaximumMtu = 65535; // IPv4 total length field

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

class CapabilitiesLoader {
 public:
  explicit CapabilitiesLoader(const std::string& source) : source_(source) {}

  Capabilities load(const YAML::Node& root) {
    Capabilities capabilities;
    capabilities.source = source_;
    if (!root.IsDefined() || root.IsNull()) return capabilities;  // empty file: nothing declared
    if (!root.IsMap()) throw_at(root, source_, "expected a mapping with defaults, hosts, sequencer; got " + yaml_detail::describe(root));
    for (auto entry = root.begin(); entry != root.end(); ++entry) {
      const std::string key = scalar_key(entry->first, "");
      if (key == "defaults") {
        capabilities.defaults = host(entry->second, "defaults", HostCapabilities{});
      } else if (key == "hosts") {
        hosts_node_ = entry->second;
        has_hosts_ = true;
      } else if (key == "sequencer") {
        if (!entry->second.IsScalar() || entry->second.Scalar().empty())
          throw_at(entry->second, source_, "sequencer: expected a member name or host:port, got " + yaml_detail::describe(entry->second));
        capabilities.sequencer = entry->second.Scalar();
      } else {
        throw_at(entry->first, source_, "unknown key '" + yaml_detail::printable(key) + "' (known: defaults, hosts, sequencer)");
      }
    }
    // Hosts inherit the defaults, wherever `defaults` appears in the file.
    if (has_hosts_) {
      if (!hosts_node_.IsMap()) throw_at(hosts_node_, source_, "hosts: expected a mapping of host name to capabilities, got " + yaml_detail::describe(hosts_node_));
      for (auto entry = hosts_node_.begin(); entry != hosts_node_.end(); ++entry) {
        const std::string name = scalar_key(entry->first, "hosts");
        if (capabilities.hosts.count(name)) throw_at(entry->first, source_, "hosts: host '" + yaml_detail::printable(name) + "' is listed twice");
        capabilities.hosts[name] = host(entry->second, "hosts." + name, capabilities.defaults);
      }
    }
    return capabilities;
  }

 private:
  std::string scalar_key(const YAML::Node& key, const std::string& path) {
    if (!key.IsScalar() || key.Scalar().empty())
      throw_at(key, source_, (path.empty() ? "" : path + ": ") + "keys must be plain names, got " + yaml_detail::describe(key));
    return key.Scalar();
  }

  bool boolean(const YAML::Node& node, const std::string& path) {
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      if (text == "true") return true;
      if (text == "false") return false;
    }
    throw_at(node, source_, path + ": expected true or false, got " + yaml_detail::describe(node));
  }

  HostCapabilities host(const YAML::Node& node, const std::string& path, HostCapabilities result) {
    if (node.IsNull()) return result;
    if (!node.IsMap()) throw_at(node, source_, path + ": expected a mapping, got " + yaml_detail::describe(node));
    std::set<std::string> seen;
    for (auto entry = node.begin(); entry != node.end(); ++entry) {
      const std::string key = scalar_key(entry->first, path);
      const std::string key_path = path + "." + key;
      if (!seen.insert(key).second) throw_at(entry->first, source_, key_path + ": given twice");
      if (key == "checksum_offload") {
        result.checksum_offload = boolean(entry->second, key_path);
      } else if (key == "ip_multicast") {
        result.ip_multicast = boolean(entry->second, key_path);
      } else if (key == "ebpf_fanout") {
        result.ebpf_fanout = boolean(entry->second, key_path);
      } else if (key == "mtu") {
        result.mtu = static_cast<std::uint32_t>(yaml_detail::unsigned_at(entry->second, source_, key_path, kMinimumMtu, kMaximumMtu));
      } else {
        throw_at(entry->first, source_, key_path + ": unknown key (known: " +
                                            join({"checksum_offload", "ip_multicast", "ebpf_fanout", "mtu"}) + ")");
      }
    }
    return result;
  }

  const std::string& source_;
  YAML::Node hosts_node_;
  bool has_hosts_ = false;
};

}  // namespace

Capabilities parse_capabilities(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    throw ConfigError(source, error.mark.is_null() ? 0 : error.mark.line + 1, error.mark.is_null() ? 0 : error.mark.column + 1,
                      error.msg);
  }
  try {
    return CapabilitiesLoader(source).load(root);
  } catch (const YAML::Exception& error) {
    throw ConfigError(source, error.mark.is_null() ? 0 : error.mark.line + 1, error.mark.is_null() ? 0 : error.mark.column + 1,
                      error.msg);
  }
}

Capabilities load_capabilities_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError(path, 0, 0, "cannot open capabilities file");
  std::ostringstream text;
  text << file.rdbuf();
  return parse_capabilities(text.str(), path);
}

}  // namespace tmc
