// `tmc run --policy P -- PROGRAM ARGS...`: validates the policy, refuses static binaries
// (LD_PRELOAD cannot reach them) and execs PROGRAM with the shim preloaded.
#include <elf.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "command.h"
#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

namespace tmc::tool {

const std::string_view kRunUsage =
    "usage: tmc run [--policy FILE | --policy-dir DIR] [--shim LIB] [--log LEVEL] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with libtmc_shim.so preloaded: sockets matched by the policy use TMC channels,\n"
    "every other socket is left as the kernel made it.\n"
    "  --policy FILE     policy for PROGRAM (sets TMC_POLICY); validated before PROGRAM starts\n"
    "  --policy-dir DIR  look up DIR/<program>.yaml per process (sets TMC_POLICY_DIR)\n"
    "  --shim LIB        shim library (default: $TMC_SHIM_LIBRARY, else next to this binary)\n"
    "  --log LEVEL       shim log level (sets TMC_LOG: debug, info, warn, error)\n"
    "Statically linked programs (no PT_INTERP) are refused: LD_PRELOAD cannot interpose them.\n"
    "Exit status: PROGRAM's, or 78 malformed policy, 126 static/unrunnable program, 2 usage.\n";

namespace {

std::string absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved)) return resolved;
  return path;
}

std::string find_in_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string directories = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= directories.size()) {
    auto end = directories.find(':', start);
    if (end == std::string::npos) end = directories.size();
    std::string candidate = directories.substr(start, end - start) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

template <typename Ehdr, typename Phdr>
int has_interpreter(std::ifstream& in) {
  Ehdr header{};
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(&header), sizeof header)) return -1;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Phdr program_header{};
    in.seekg(static_cast<std::streamoff>(header.e_phoff + i * header.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&program_header), sizeof program_header)) return -1;
    if (program_header.p_type == PT_INTERP) return 1;
  }
  return 0;
}

// 1 dynamic (PT_INTERP), 0 static, -1 unreadable/not ELF. Scripts answer for their interpreter.
int is_dynamic(const std::string& path, std::string* checked, int depth = 0) {
  std::ifstream in(path, std::ios::binary);
  unsigned char ident[EI_NIDENT] = {};
  if (!in.read(reinterpret_cast<char*>(ident), 2)) return -1;
  if (ident[0] == '#' && ident[1] == '!' && depth < 4) {
    std::string line;
    std::getline(in, line);
    auto begin = line.find_first_not_of(" \t");
    if (begin == std::string::npos) return -1;
    auto end = line.find_first_of(" \t", begin);
    return is_dynamic(line.substr(begin, end - begin), checked, depth + 1);
  }
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(ident), EI_NIDENT) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) return -1;
  *checked = path;
  if (ident[EI_CLASS] == ELFCLASS64) return has_interpreter<Elf64_Ehdr, Elf64_Phdr>(in);
  if (ident[EI_CLASS] == ELFCLASS32) return has_interpreter<Elf32_Ehdr, Elf32_Phdr>(in);
  return -1;
}

std::string default_shim() {
  if (const char* configured = std::getenv("TMC_SHIM_LIBRARY"); configured && *configured) return configured;
  char self[PATH_MAX] = {};
  auto length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string directory = length > 0 ? std::string(self, static_cast<std::size_t>(length)) : "";
  directory = directory.substr(0, directory.rfind('/'));
  for (const char* relative : {"/shim/libtmc_shim.so", "/libtmc_shim.so", "/../lib/libtmc_shim.so"}) {
    std::string candidate = directory + relative;
    if (::access(candidate.c_str(), R_OK) == 0) return absolute(candidate);
  }
  return {};
}

}  // namespace

int run_run(std::span<char*> args) {
  std::string policy, policy_dir, shim, log;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view arg(args[i]);
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (arg == "--") {
      ++i;
      break;
    }
    bool ok = true;
    if (arg == "--policy") ok = value(&policy);
    else if (arg == "--policy-dir") ok = value(&policy_dir);
    else if (arg == "--shim") ok = value(&shim);
    else if (arg == "--log") ok = value(&log);
    else if (arg.starts_with("-")) ok = false;
    else break;  // PROGRAM without "--"
    if (!ok) {
      std::fprintf(stderr, "tmc run: bad option '%s'\n%.*s", args[i], static_cast<int>(kRunUsage.size()), kRunUsage.data());
      return kExitUsage;
    }
  }
  if (i >= args.size()) {
    std::fprintf(stderr, "tmc run: no program given\n%.*s", static_cast<int>(kRunUsage.size()), kRunUsage.data());
    return kExitUsage;
  }
  if (!policy.empty()) {
    try {
      shim::load_policy_file(policy);
    } catch (const ConfigError& error) {
      std::fprintf(stderr, "%s\n", error.what());
      return kExitConfig;
    }
    ::setenv("TMC_POLICY", absolute(policy).c_str(), 1);
  }
  if (!policy_dir.empty()) ::setenv("TMC_POLICY_DIR", absolute(policy_dir).c_str(), 1);
  if (!log.empty()) ::setenv("TMC_LOG", log.c_str(), 1);

  std::string program = find_in_path(args[i]);
  if (program.empty()) {
    std::fprintf(stderr, "tmc run: %s: command not found\n", args[i]);
    return 127;
  }
  std::string checked;
  int dynamic = is_dynamic(program, &checked);
  if (dynamic == 0) {
    std::fprintf(stderr,
                 "tmc run: %s is statically linked (no PT_INTERP program header); LD_PRELOAD cannot interpose "
                 "its socket calls, so it cannot run under the shim\n",
                 checked.c_str());
    return 126;
  }
  if (dynamic < 0) {
    std::fprintf(stderr, "tmc run: %s is not an ELF executable or script this machine can run\n", program.c_str());
    return 126;
  }
  if (shim.empty()) shim = default_shim();
  if (shim.empty() || ::access(shim.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "tmc run: shim library not found (give --shim or TMC_SHIM_LIBRARY)\n");
    return 126;
  }
  std::string preload = absolute(shim);
  if (const char* existing = std::getenv("LD_PRELOAD"); existing && *existing) preload += std::string(":") + existing;
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  ::execv(program.c_str(), args.data() + i);
  std::fprintf(stderr, "tmc run: cannot execute %s: %s\n", program.c_str(), std::strerror(errno));
  return 126;
}

}  // namespace tmc::tool
