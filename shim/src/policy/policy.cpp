// Policy model: names, matching and lookup. The YAML loader is in policy_yaml.cpp.
#include "policy/policy.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace tmc::shim {

const char* to_string(Role role) {
  switch (role) {
    case Role::tcp_client: return "tcp-client";
    case Role::tcp_server: return "tcp-server";
    case Role::udp_sender: return "udp-sender";
    case Role::udp_receiver: return "udp-receiver";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view text) {
  if (text == "tcp-client") return Role::tcp_client;
  if (text == "tcp-server") return Role::tcp_server;
  if (text == "udp-sender") return Role::udp_sender;
  if (text == "udp-receiver") return Role::udp_receiver;
  return std::nullopt;
}

const char* to_string(Framing framing) {
  switch (framing) {
    case Framing::stream: return "stream";
    case Framing::length_prefixed_u16: return "length-prefixed-u16";
    case Framing::length_prefixed_u32: return "length-prefixed-u32";
    case Framing::line: return "line";
    case Framing::send_call: return "send-call";
  }
  return "?";
}

std::optional<Framing> parse_framing(std::string_view text) {
  if (text == "stream") return Framing::stream;
  if (text == "length-prefixed-u16" || text == "length-prefixed") return Framing::length_prefixed_u16;
  if (text == "length-prefixed-u32") return Framing::length_prefixed_u32;
  if (text == "line") return Framing::line;
  if (text == "send-call") return Framing::send_call;
  return std::nullopt;
}

bool MessageRule::matches(std::span<const std::byte> message) const {
  if (message.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    auto have = static_cast<unsigned char>(message[i]);
    auto want = static_cast<unsigned char>(prefix[i]);
    if (ignore_case ? std::tolower(have) != std::tolower(want) : have != want) return false;
  }
  return true;
}

const Manifest* Rule::manifest_for(std::span<const std::byte> message) const {
  for (const auto& rule : messages) {
    if (rule.matches(message)) return &rule.manifest;
  }
  return nullptr;
}

const Rule* Policy::match(Role role, const InetEndpoint& endpoint, std::string_view program) const {
  for (const auto& rule : rules) {
    if (rule.role != role) continue;
    if (!rule.program.empty() && rule.program != program) continue;
    if (!rule.ports.contains(endpoint.port)) continue;
    if (!rule.address.contains(endpoint.address)) continue;
    return &rule;
  }
  return nullptr;
}

std::string locate_policy(std::string_view program, std::string* error) {
  struct stat info {};
  if (const char* explicit_path = std::getenv("TMC_POLICY"); explicit_path && *explicit_path) {
    if (::stat(explicit_path, &info) != 0) {
      if (error) *error = std::string(explicit_path) + ":0:0: TMC_POLICY names a file that cannot be read: " + std::strerror(errno);
      return {};
    }
    return explicit_path;
  }
  const char* directory = std::getenv("TMC_POLICY_DIR");
  if (!directory || !*directory || program.empty()) return {};
  std::string candidate = std::string(directory) + "/" + std::string(program) + ".yaml";
  if (::stat(candidate.c_str(), &info) == 0) return candidate;
  return {};
}

}  // namespace tmc::shim
