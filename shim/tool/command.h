// The `tmc` command's subcommand table. Adding a subcommand = one file defining a
// `run_<name>` function + one row in kCommands (main.cpp).
#pragma once

#include <span>
#include <string_view>

namespace tmc::tool {

struct Command {
  std::string_view name;     // words after `tmc`, e.g. "policy check"
  std::string_view summary;  // one line for `tmc --help`
  std::string_view usage;    // full text for `tmc NAME --help`
  int (*run)(std::span<char*> args);  // args after the command words; returns the exit status
};

// True when args contain -h / --help before a "--" separator.
bool wants_help(std::span<char*> args);

int run_run(std::span<char*> args);
int run_policy_check(std::span<char*> args);
int run_stats(std::span<char*> args);
int run_plan(std::span<char*> args);
int run_sequencer(std::span<char*> args);

extern const std::string_view kRunUsage;
extern const std::string_view kPolicyCheckUsage;
extern const std::string_view kStatsUsage;
extern const std::string_view kPlanUsage;
extern const std::string_view kSequencerUsage;

// Exit statuses shared by subcommands.
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;  // EX_CONFIG: malformed policy / manifest (the shim uses the same status)

}  // namespace tmc::tool
