// tmc-loss — attach/detach/read the TMC loss injector (ebpf/bpf/loss.bpf.c) on an interface's
// tc ingress. Used by the harness inside network namespaces (ip netns exec NS tmc-loss ...).
//
//   tmc-loss attach --dev IFACE --rate FRACTION [--seed N] [--ports P1,P2,...]
//                   [--gilbert P_GOOD_TO_BAD,P_BAD_TO_GOOD,LOSS_IN_BAD]
//   tmc-loss detach --dev IFACE
//   tmc-loss stats  --dev IFACE          -> "seen=N dropped=M"
//
// attach exits 0 leaving the filter in place (the tc filter holds the program and its maps);
// ARP and ICMPv6 are never dropped. Exit codes: 0 ok, 2 bad arguments, 1 any other failure
// (BPF not permitted, no such interface, nothing attached).
#include <net/if.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tmc/bpf/loss_injector.h"

namespace {

constexpr const char* kUsage =
    "usage: tmc-loss attach --dev IFACE --rate FRACTION [--seed N] [--ports P1,P2,...]\n"
    "                       [--gilbert P_GOOD_TO_BAD,P_BAD_TO_GOOD,LOSS_IN_BAD]\n"
    "       tmc-loss detach --dev IFACE\n"
    "       tmc-loss stats --dev IFACE\n";

struct UsageError {
  std::string message;
};

double parse_probability(const std::string& text, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !(value >= 0.0 && value <= 1.0))
    throw UsageError{what + " must be a number within [0, 1], got '" + text + "'"};
  return value;
}

uint64_t parse_unsigned(const std::string& text, const std::string& what, uint64_t max) {
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || value > max)
    throw UsageError{what + " must be an integer within [0, " + std::to_string(max) + "], got '" + text + "'"};
  return value;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

struct Options {
  std::string command;
  std::string dev;
  bool have_rate = false;
  tmc::bpf::LossConfig config;
};

Options parse(int argc, char** argv) {
  if (argc < 2) throw UsageError{"missing command"};
  Options options;
  options.command = argv[1];
  if (options.command != "attach" && options.command != "detach" && options.command != "stats")
    throw UsageError{"unknown command '" + options.command + "'"};
  for (int i = 2; i < argc; i++) {
    std::string flag = argv[i];
    if (i + 1 >= argc) throw UsageError{"option " + flag + " needs a value"};
    std::string value = argv[++i];
    bool attach_only = flag != "--dev";
    if (attach_only && options.command != "attach") throw UsageError{"option " + flag + " is only for attach"};
    if (flag == "--dev") {
      options.dev = value;
    } else if (flag == "--rate") {
      options.config.rate = parse_probability(value, "--rate");
      options.have_rate = true;
    } else if (flag == "--seed") {
      options.config.seed = parse_unsigned(value, "--seed", UINT64_MAX);
    } else if (flag == "--ports") {
      for (const auto& port : split(value, ',')) {
        uint64_t number = parse_unsigned(port, "--ports entry", 65535);
        if (number == 0) throw UsageError{"--ports entry must be 1..65535, got '" + port + "'"};
        options.config.ports.push_back(static_cast<uint16_t>(number));
      }
      if (options.config.ports.size() > 16) throw UsageError{"--ports takes at most 16 ports"};
    } else if (flag == "--gilbert") {
      auto parts = split(value, ',');
      if (parts.size() != 3) throw UsageError{"--gilbert takes P_GOOD_TO_BAD,P_BAD_TO_GOOD,LOSS_IN_BAD"};
      options.config.gilbert = tmc::bpf::LossConfig::Gilbert{
          parse_probability(parts[0], "--gilbert P_GOOD_TO_BAD"), parse_probability(parts[1], "--gilbert P_BAD_TO_GOOD"),
          parse_probability(parts[2], "--gilbert LOSS_IN_BAD")};
    } else {
      throw UsageError{"unknown option '" + flag + "'"};
    }
  }
  if (options.dev.empty()) throw UsageError{"--dev IFACE is required"};
  if (options.command == "attach" && !options.have_rate) throw UsageError{"--rate FRACTION is required"};
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* level = std::getenv("TMC_LOG")) spdlog::set_level(spdlog::level::from_str(level));
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "tmc-loss: %s\n%s", error.message.c_str(), kUsage);
    return 2;
  }
  int ifindex = static_cast<int>(if_nametoindex(options.dev.c_str()));
  if (ifindex == 0) {
    std::fprintf(stderr, "tmc-loss: no interface '%s' here: %s\n", options.dev.c_str(), std::strerror(errno));
    return 1;
  }
  try {
    if (options.command == "attach") {
      std::string why;
      if (!tmc::bpf::available(&why)) {
        std::fprintf(stderr, "tmc-loss: %s\n", why.c_str());
        return 1;
      }
      tmc::bpf::LossInjector injector(options.config);
      injector.attach(ifindex, tmc::bpf::Direction::ingress);
      injector.keep_attached();
    } else if (options.command == "detach") {
      tmc::bpf::LossInjector::detach_from(ifindex, tmc::bpf::Direction::ingress);
    } else {
      auto stats = tmc::bpf::LossInjector::stats_of(ifindex, tmc::bpf::Direction::ingress);
      std::printf("seen=%llu dropped=%llu\n", static_cast<unsigned long long>(stats.seen),
                  static_cast<unsigned long long>(stats.dropped));
    }
  } catch (const tmc::bpf::Error& error) {
    std::string message = error.what();
    if (error.error_code() == ENOENT && options.command != "attach")
      message = "no tmc-loss filter on the ingress of " + options.dev + " (" + message + ")";
    std::fprintf(stderr, "tmc-loss: %s\n", message.c_str());
    return 1;
  }
  return 0;
}
