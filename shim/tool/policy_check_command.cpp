// `tmc policy check FILE...`: loads each policy like the shim does and reports errors.
#include <cstdio>
#include <exception>

#include <string>

#include "command.h"
#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

namespace tmc::tool {

const std::string_view kPolicyCheckUsage =
    "usage: tmc policy check [--quiet] FILE...\n"
    "\n"
    "Validates shim policy files exactly as libtmc_shim.so loads them. Errors print as\n"
    "FILE:LINE:COL: message. Valid files print a summary of their rules unless --quiet.\n"
    "Exit status: 0 all valid, 78 a file is malformed, 2 usage error.\n";

int run_policy_check(std::span<char*> args) {
  bool quiet = false;
  int files = 0, status = 0;
  for (char* arg : args) {
    std::string_view text(arg);
    if (text == "--quiet" || text == "-q") {
      quiet = true;
      continue;
    }
    if (text.starts_with("-")) {
      std::fprintf(stderr, "tmc policy check: unknown option '%s'\n%.*s", arg, static_cast<int>(kPolicyCheckUsage.size()),
                   kPolicyCheckUsage.data());
      return kExitUsage;
    }
  }
  for (char* arg : args) {
    std::string_view text(arg);
    if (text == "--quiet" || text == "-q") continue;
    ++files;
    try {
      auto policy = shim::load_policy_file(arg);
      if (!quiet) {
        std::printf("%s: ok, %zu rule(s)\n", arg, policy.rules.size());
        for (const auto& rule : policy.rules) {
          // Framing applies to stream sockets only; a datagram is always one message.
          const bool datagram = rule.role == shim::Role::udp_sender || rule.role == shim::Role::udp_receiver;
          const std::string framing = datagram ? "datagrams" : std::string("framing ") + shim::to_string(rule.framing);
          std::printf("  %s: %s %s port %u-%u%s%s %s, %zu message rule(s)%s\n", rule.name.c_str(),
                      shim::to_string(rule.role), rule.address.to_string().c_str(), rule.ports.first, rule.ports.last,
                      rule.program.empty() ? "" : " program ", rule.program.c_str(), framing.c_str(),
                      rule.messages.size(), rule.group ? ", group mapping" : "");
        }
      }
    } catch (const ConfigError& error) {
      std::fprintf(stderr, "%s\n", error.what());
      status = kExitConfig;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "%s:0:0: %s\n", arg, error.what());
      status = kExitConfig;
    }
  }
  if (files == 0) {
    std::fprintf(stderr, "%.*s", static_cast<int>(kPolicyCheckUsage.size()), kPolicyCheckUsage.data());
    return kExitUsage;
  }
  return status;
}

}  // namespace tmc::tool
