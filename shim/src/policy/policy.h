// A shim policy: which of a binary's sockets use TMC channels, with which manifest and framing.
//
// Policies are YAML files (policies/*.yaml, docs/shim.md). Rules are tried in order and the first
// match wins; a socket no rule matches is left exactly as the kernel made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/address.h"
#include "tmc/manifest.h"

namespace tmc::shim {

// The moment a socket is classified: connect() (tcp-client, udp-sender), listen()
// (tcp-server), bind() / IP_ADD_MEMBERSHIP (udp-receiver), sendto() (udp-sender).
enum class Role { tcp_client, tcp_server, udp_sender, udp_receiver };
const char* to_string(Role);
std::optional<Role> parse_role(std::string_view);

// How a byte stream is cut into channel messages. Only stream sockets have a framing.
enum class Framing {
  stream,               // reliable ordered bytes; message boundaries carry no meaning
  length_prefixed_u16,  // each message starts with its payload length, u16 big-endian
  length_prefixed_u32,  // ... u32 big-endian
  line,                 // each message ends with '\n'
  send_call,            // each send()/write() call of the application is one message
};
const char* to_string(Framing);
std::optional<Framing> parse_framing(std::string_view);

// Per-message features: messages whose first bytes equal `prefix` are sent with `manifest`
// (merged over the rule's channel manifest). First matching entry wins.
struct MessageRule {
  std::string prefix;  // raw bytes
  bool ignore_case = false;
  Manifest manifest;
  bool matches(std::span<const std::byte> message) const;
};

// A virtual destination that stands for a group of members (group mapping).
struct GroupMapping {
  std::vector<Member> members;  // real addresses
  std::string multicast;        // "239.1.2.3:7000", empty = unicast fan-out
};

struct Rule {
  std::string name;  // for logs and `tmc stats`; defaults to "rule-N"
  Role role = Role::tcp_client;
  Cidr address;      // destination (client/sender) or local (server/receiver) address
  PortRange ports;
  std::string program;  // empty = any program
  Manifest manifest;    // channel defaults
  Framing framing = Framing::stream;
  std::vector<MessageRule> messages;
  std::optional<GroupMapping> group;
  std::string source;  // "file:line:col" of the rule, for diagnostics

  // The per-message manifest for `message` (nullptr when no message rule matches).
  const Manifest* manifest_for(std::span<const std::byte> message) const;
};

struct Policy {
  std::string file;
  std::vector<Rule> rules;

  // First rule that matches; nullptr when the socket should pass through.
  const Rule* match(Role role, const InetEndpoint& endpoint, std::string_view program) const;
};

// Parses policy YAML. Throws tmc::ConfigError ("file:line:col: message") on any error;
// relative manifest file references resolve against the directory of `file`.
Policy parse_policy(const std::string& yaml_text, const std::string& file);
Policy load_policy_file(const std::string& path);

// Where the shim looks for the policy of `program`: $TMC_POLICY, else
// $TMC_POLICY_DIR/<program>.yaml when that file exists. Empty = no policy (pass everything).
// `error` is set when $TMC_POLICY names a file that does not exist.
std::string locate_policy(std::string_view program, std::string* error);

}  // namespace tmc::shim
