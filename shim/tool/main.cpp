// tmc — the libTMC command: runs programs under the shim, checks policies, shows live stats.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "command.h"

namespace tmc::tool {

namespace {

const Command kCommands[] = {
    {"run", "run a program with its sockets on TMC channels (LD_PRELOAD shim)", kRunUsage, run_run},
    {"policy check", "validate a policy file; prints file:line:col errors", kPolicyCheckUsage, run_policy_check},
    {"stats", "per-channel counters of a shimmed process (PID) or of the eBPF classifier on a device (--dev)", kStatsUsage, run_stats},
    {"plan", "print the pipeline a manifest compiles to against a capabilities file, and why", kPlanUsage, run_plan},
    {"sequencer", "run the dedicated total-order sequencer a capabilities file names (until SIGTERM)", kSequencerUsage, run_sequencer},
};

void print_overview(std::FILE* out) {
  std::fprintf(out, "usage: tmc COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& command : kCommands) {
    std::fprintf(out, "  %-14.*s %.*s\n", static_cast<int>(command.name.size()), command.name.data(),
                 static_cast<int>(command.summary.size()), command.summary.data());
  }
  std::fprintf(out, "\n`tmc COMMAND --help` describes a command.\n");
}

// Number of leading args that spell `name` ("policy check" = 2 words), 0 when they do not.
int words_matching(std::string_view name, std::span<char*> args) {
  int words = 0;
  std::size_t position = 0;
  while (position < name.size()) {
    auto end = name.find(' ', position);
    if (end == std::string_view::npos) end = name.size();
    if (static_cast<std::size_t>(words) >= args.size() || name.substr(position, end - position) != args[words]) return 0;
    ++words;
    position = end + 1;
  }
  return words;
}

}  // namespace

bool wants_help(std::span<char*> args) {
  for (char* arg : args) {
    if (std::strcmp(arg, "--") == 0) return false;
    if (std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--help") == 0) return true;
  }
  return false;
}

}  // namespace tmc::tool

int main(int argc, char** argv) {
  using namespace tmc::tool;
  std::span<char*> args(argv + 1, static_cast<std::size_t>(argc - 1));
  if (args.empty()) {
    print_overview(stderr);
    return kExitUsage;
  }
  if (std::strcmp(args[0], "-h") == 0 || std::strcmp(args[0], "--help") == 0 || std::strcmp(args[0], "help") == 0) {
    print_overview(stdout);
    return 0;
  }
  const Command* best = nullptr;
  int best_words = 0;
  for (const auto& command : kCommands) {
    int words = words_matching(command.name, args);
    if (words > best_words) best = &command, best_words = words;
  }
  if (!best) {
    // A group word alone (`tmc policy`) lists its subcommands.
    bool group = false;
    for (const auto& command : kCommands) {
      if (command.name.starts_with(std::string(args[0]) + " ")) {
        if (!group) std::fprintf(stderr, "usage:\n");
        group = true;
        std::fprintf(stderr, "  tmc %.*s   %.*s\n", static_cast<int>(command.name.size()), command.name.data(),
                     static_cast<int>(command.summary.size()), command.summary.data());
      }
    }
    if (group) {
      bool help = args.size() > 1 && (std::strcmp(args[1], "--help") == 0 || std::strcmp(args[1], "-h") == 0);
      return help ? 0 : kExitUsage;
    }
    std::fprintf(stderr, "tmc: unknown command '%s'\n\n", args[0]);
    print_overview(stderr);
    return kExitUsage;
  }
  auto rest = args.subspan(static_cast<std::size_t>(best_words));
  if (wants_help(rest)) {
    std::fwrite(best->usage.data(), 1, best->usage.size(), stdout);
    return 0;
  }
  return best->run(rest);
}
