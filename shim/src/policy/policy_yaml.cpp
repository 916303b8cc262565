// Policy YAML loader. Every error is a tmc::ConfigError naming file:line:col.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

namespace tmc::shim {

namespace {

struct Loader {
  std::string file;
  std::string directory;
  std::map<std::string, Manifest> named_manifests;

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    throw_at(node, file, message);
  }

  // Rejects keys outside `allowed` and duplicate keys (yaml-cpp keeps the last silently).
  void check_keys(const YAML::Node& mapping, std::initializer_list<std::string_view> allowed,
                  const std::string& what) const {
    std::set<std::string> seen;
    for (const auto& entry : mapping) {
      if (!entry.first.IsScalar()) fail(entry.first, what + " keys must be plain names");
      auto key = entry.first.Scalar();
      bool known = false;
      for (auto name : allowed) known = known || name == key;
      if (!known) {
        std::string list;
        for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
        fail(entry.first, "unknown key '" + key + "' in " + what + " (expected one of: " + list + ")");
      }
      if (!seen.insert(key).second) fail(entry.first, "duplicate key '" + key + "' in " + what);
    }
  }

  std::string scalar(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node, what + " must be a string");
    return node.Scalar();
  }

  Manifest manifest(const YAML::Node& node) {
    if (node.IsMap()) return manifest_from_yaml(node, file);
    if (!node.IsScalar()) fail(node, "manifest must be a name from 'manifests:', a manifest file or a mapping");
    auto name = node.Scalar();
    if (auto found = named_manifests.find(name); found != named_manifests.end()) return found->second;
    auto is_file = [&](std::string_view suffix) {
      return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (!is_file(".yaml") && !is_file(".yml")) {
      fail(node, "unknown manifest '" + name + "' (not defined under 'manifests:' and not a .yaml file)");
    }
    std::string path = name.front() == '/' ? name : directory + name;
    std::ifstream in(path);
    if (!in) fail(node, "manifest file '" + path + "' cannot be read");
    return load_manifest_file(path);  // its own errors name that file
  }

  PortRange ports(const YAML::Node& node) const {
    auto text = scalar(node, "port");
    auto parse = [&](std::string_view digits) -> std::uint16_t {
      unsigned value = 0;
      if (digits.empty() || digits.size() > 5) fail(node, "port '" + text + "' is not a number in 0-65535");
      for (char c : digits) {
        if (c < '0' || c > '9') fail(node, "port '" + text + "' is not a number in 0-65535");
        value = value * 10 + static_cast<unsigned>(c - '0');
      }
      if (value > 65535) fail(node, "port '" + text + "' is not a number in 0-65535");
      return static_cast<std::uint16_t>(value);
    };
    auto dash = text.find('-');
    if (dash == std::string::npos) {
      auto port = parse(text);
      return {port, port};
    }
    PortRange range{parse(std::string_view(text).substr(0, dash)), parse(std::string_view(text).substr(dash + 1))};
    if (range.first > range.last) fail(node, "port range '" + text + "' is empty (first > last)");
    return range;
  }

  Cidr cidr(const YAML::Node& node, const std::string& key) const {
    auto text = scalar(node, key);
    auto parsed = parse_cidr(text);
    if (!parsed) fail(node, key + " '" + text + "' is not an address or CIDR prefix (e.g. 10.0.0.0/8, ::1, any)");
    return *parsed;
  }

  GroupMapping group(const YAML::Node& node) const {
    if (!node.IsMap()) fail(node, "group must be a mapping with 'members' (and optionally 'multicast')");
    check_keys(node, {"members", "multicast"}, "group");
    GroupMapping mapping;
    const auto members = node["members"];
    if (!members) fail(node, "group needs 'members'");
    if (!members.IsSequence() || members.size() == 0) fail(members, "group members must be a non-empty list");
    std::set<std::string> names;
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto entry = members[i];
      Member member;
      YAML::Node address_node;
      address_node.reset(entry);  // (plain assignment would overwrite the referenced node)
      if (entry.IsMap()) {
        check_keys(entry, {"name", "address"}, "group member");
        if (!entry["address"]) fail(entry, "group member needs 'address'");
        address_node.reset(entry["address"]);
        member.name = entry["name"] ? scalar(entry["name"], "member name") : "";
      }
      member.address = scalar(address_node, "member address");
      if (!parse_endpoint(member.address)) {
        fail(address_node, "member address '" + member.address + "' is not a numeric host:port");
      }
      if (member.name.empty()) member.name = "member-" + std::to_string(i);
      if (!names.insert(member.name).second) fail(entry, "duplicate member name '" + member.name + "'");
      mapping.members.push_back(member);
    }
    if (const auto multicast = node["multicast"]) {
      mapping.multicast = scalar(multicast, "multicast");
      auto endpoint = parse_endpoint(mapping.multicast);
      bool is_multicast = endpoint && (endpoint->address.is_v4() ? (endpoint->address.bytes[12] & 0xf0) == 0xe0
                                                                 : endpoint->address.bytes[0] == 0xff);
      if (!is_multicast) fail(multicast, "multicast '" + mapping.multicast + "' is not a multicast group host:port");
    }
    return mapping;
  }

  MessageRule message_rule(const YAML::Node& node) {
    if (!node.IsMap()) fail(node, "a message rule must be a mapping with 'prefix' and 'manifest'");
    check_keys(node, {"prefix", "prefix_hex", "ignore_case", "manifest"}, "message rule");
    MessageRule rule;
    if (node["prefix"] && node["prefix_hex"]) fail(node, "give either 'prefix' or 'prefix_hex', not both");
    if (const auto prefix = node["prefix"]) {
      rule.prefix = scalar(prefix, "prefix");
      if (rule.prefix.empty()) fail(prefix, "prefix must not be empty");
    } else if (const auto hex = node["prefix_hex"]) {
      auto text = scalar(hex, "prefix_hex");
      if (text.empty() || text.size() % 2 != 0) fail(hex, "prefix_hex must be a non-empty even number of hex digits");
      for (std::size_t i = 0; i < text.size(); i += 2) {
        auto nibble = [&](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          fail(hex, "prefix_hex '" + text + "' has a non-hex digit");
        };
        rule.prefix.push_back(static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1])));
      }
    } else {
      fail(node, "message rule needs 'prefix' or 'prefix_hex'");
    }
    if (const auto ignore_case = node["ignore_case"]) {
      auto text = scalar(ignore_case, "ignore_case");
      if (text != "true" && text != "false") fail(ignore_case, "ignore_case must be true or false");
      rule.ignore_case = text == "true";
    }
    if (!node["manifest"]) fail(node, "message rule needs 'manifest'");
    rule.manifest = manifest(node["manifest"]);
    return rule;
  }

  Rule rule(const YAML::Node& node, std::size_t index, const std::string& default_program) {
    if (!node.IsMap()) fail(node, "a rule must be a mapping (role, port, manifest, ...)");
    check_keys(node, {"name", "role", "destination", "local", "port", "program", "manifest", "framing", "messages", "group"},
               "rule");
    Rule rule;
    rule.source = file + ":" + std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
    rule.name = node["name"] ? scalar(node["name"], "name") : "rule-" + std::to_string(index + 1);
    if (!node["role"]) fail(node, "rule needs 'role' (tcp-client, tcp-server, udp-sender, udp-receiver)");
    auto role_text = scalar(node["role"], "role");
    auto role = parse_role(role_text);
    if (!role) fail(node["role"], "unknown role '" + role_text + "' (expected tcp-client, tcp-server, udp-sender or udp-receiver)");
    rule.role = *role;
    bool remote_side = rule.role == Role::tcp_client || rule.role == Role::udp_sender;
    if (node["destination"] && !remote_side) fail(node["destination"], "'destination' applies to tcp-client and udp-sender rules; use 'local' for " + role_text);
    if (node["local"] && remote_side) fail(node["local"], "'local' applies to tcp-server and udp-receiver rules; use 'destination' for " + role_text);
    if (node["destination"]) rule.address = cidr(node["destination"], "destination");
    if (node["local"]) rule.address = cidr(node["local"], "local");
    if (node["port"]) rule.ports = ports(node["port"]);
    rule.program = node["program"] ? scalar(node["program"], "program") : default_program;
    if (!node["manifest"]) fail(node, "rule needs 'manifest' (a name from 'manifests:', a manifest file or a mapping)");
    rule.manifest = manifest(node["manifest"]);
    bool stream_role = rule.role == Role::tcp_client || rule.role == Role::tcp_server;
    if (const auto framing = node["framing"]) {
      if (!stream_role) fail(framing, "'framing' applies to stream sockets (tcp-client, tcp-server); datagrams are messages already");
      auto text = scalar(framing, "framing");
      auto parsed = parse_framing(text);
      if (!parsed) fail(framing, "unknown framing '" + text + "' (expected stream, length-prefixed-u16, length-prefixed-u32, line or send-call)");
      rule.framing = *parsed;
    }
    if (const auto messages = node["messages"]) {
      if (stream_role && rule.framing == Framing::stream) {
        fail(messages, "per-message rules need a message framing (length-prefixed-u16/u32, line or send-call), not stream");
      }
      if (!messages.IsSequence()) fail(messages, "messages must be a list of {prefix, manifest}");
      for (const auto& entry : messages) rule.messages.push_back(message_rule(entry));
    }
    if (const auto group_node = node["group"]) {
      if (rule.role != Role::udp_sender) fail(group_node, "'group' maps a virtual destination of a udp-sender rule");
      if (!node["destination"]) fail(group_node, "a group mapping needs the virtual 'destination' it stands for");
      rule.group = group(group_node);
      if (!rule.manifest.multicast) rule.manifest.multicast = Multicast{rule.group->members, rule.group->multicast};
    }
    return rule;
  }

  Policy policy(const YAML::Node& root) {
    if (!root.IsMap()) fail(root, "a policy must be a mapping with 'rules'");
    check_keys(root, {"version", "program", "manifests", "rules"}, "policy");
    if (const auto version = root["version"]) {
      if (scalar(version, "version") != "1") fail(version, "unsupported policy version '" + version.Scalar() + "' (expected 1)");
    }
    std::string program = root["program"] ? scalar(root["program"], "program") : "";
    if (const auto manifests = root["manifests"]) {
      if (!manifests.IsMap()) fail(manifests, "manifests must be a mapping of name: manifest");
      for (const auto& entry : manifests) {
        auto name = scalar(entry.first, "manifest name");
        if (named_manifests.count(name)) fail(entry.first, "duplicate manifest name '" + name + "'");
        if (!entry.second.IsMap()) fail(entry.second, "manifest '" + name + "' must be a mapping");
        named_manifests[name] = manifest_from_yaml(entry.second, file);
      }
    }
    const auto rules = root["rules"];
    if (!rules) fail(root, "policy needs 'rules'");
    if (!rules.IsSequence()) fail(rules, "rules must be a list");
    Policy policy;
    policy.file = file;
    std::set<std::string> names;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      policy.rules.push_back(rule(rules[i], i, program));
      if (!names.insert(policy.rules.back().name).second) fail(rules[i], "duplicate rule name '" + policy.rules.back().name + "'");
    }
    return policy;
  }
};

}  // namespace

Policy parse_policy(const std::string& yaml_text, const std::string& file) {
  Loader loader;
  loader.file = file;
  auto slash = file.rfind('/');
  loader.directory = slash == std::string::npos ? "" : file.substr(0, slash + 1);
  constexpr int kMaxNesting = 32;  // policies are at most ~8 levels deep
  const YAML::Node root = tmc::load_yaml_document(yaml_text, file, "policy", kMaxNesting);
  if (!root || root.IsNull()) throw ConfigError(file, 1, 1, "empty policy (expected a mapping with 'rules')");
  try {
    return loader.policy(root);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& error) {
    throw ConfigError(file, error.mark.line + 1, error.mark.column + 1, error.msg);
  }
}

Policy load_policy_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, 0, 0, "cannot read policy file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_policy(text.str(), path);
}

}  // namespace tmc::shim
