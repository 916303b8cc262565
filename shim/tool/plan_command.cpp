// `tmc plan MANIFEST [--capabilities FILE] [--self NAME]`: prints what the manifest compiles to
// on a host — the transport plan (one "feature: implementation -- reason" line per decision,
// against the operator's capabilities file) and the primitive pipeline — exactly as
// tmc::Channel::plan() does, without opening a socket or loading a BPF program.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include "command.h"
#include "tmc/capabilities.h"
#include "tmc/channel.h"
#include "tmc/manifest_yaml.h"

namespace tmc::tool {

const std::string_view kPlanUsage =
    "usage: tmc plan MANIFEST [--capabilities FILE] [--self NAME]\n"
    "\n"
    "Compiles the channel manifest MANIFEST (YAML, docs/manifest.md) against the capabilities\n"
    "file (docs/transport.md; default: $TMC_CAPABILITIES when set, else none) for the member\n"
    "NAME (default: none, a sender outside the member list) and prints the chosen pipeline and\n"
    "why: checksum offload, IP multicast / eBPF / user-space fan-out, MTU, sequencer, ...\n"
    "Errors print as FILE:LINE:COL: message.\n"
    "Exit status: 0 printed, 78 a malformed or unrealisable manifest or capabilities file, 2 usage error.\n";

int run_plan(std::span<char*> args) {
  std::optional<std::string> manifest_path, capabilities_path, self;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg(args[i]);
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (arg == "--capabilities" || arg == "-c") {
      if (!value(capabilities_path)) break;
    } else if (arg == "--self") {
      if (!value(self)) break;
    } else if (!arg.starts_with("-") && !manifest_path) {
      manifest_path = std::string(arg);
    } else {
      std::fprintf(stderr, "tmc plan: unexpected argument '%s'\n%.*s", args[i], static_cast<int>(kPlanUsage.size()),
                   kPlanUsage.data());
      return kExitUsage;
    }
  }
  if (!manifest_path) {
    std::fprintf(stderr, "%.*s", static_cast<int>(kPlanUsage.size()), kPlanUsage.data());
    return kExitUsage;
  }
  if (!capabilities_path)
    if (const char* env = std::getenv("TMC_CAPABILITIES"); env && *env) capabilities_path = env;
  try {
    const Manifest manifest = load_manifest_file(*manifest_path);
    std::optional<Capabilities> capabilities;
    if (capabilities_path) capabilities = load_capabilities_file(*capabilities_path);
    const std::string text = describe_plan(manifest, capabilities ? &*capabilities : nullptr, self.value_or(""));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  } catch (const ConfigError& error) {
    std::fprintf(stderr, "%s\n", error.what());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", manifest_path->c_str(), error.what());
  }
  return kExitConfig;
}

}  // namespace tmc::tool
