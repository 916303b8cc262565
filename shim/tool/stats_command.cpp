// `tmc stats PID`: reads the live counters a shimmed process serves on its stats socket
// (abstract AF_UNIX "@tmc-stats-PID", see shim/src/core/stats_server.h). An abstract socket
// belongs to the network namespace it was bound in, so for a process in another namespace
// (`ip netns exec`, the harness's hosts) the tool joins that namespace (setns) first.
// `tmc stats --dev IFACE`: the eBPF classifier's kernel counters on a device (kernel_stats.h).
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "command.h"
#include "core/stats_protocol.h"
#include "kernel_stats.h"

namespace tmc::tool {

const std::string_view kStatsUsage =
    "usage: tmc stats [--prometheus] PID\n"
    "       tmc stats [--prometheus] --dev IFACE\n"
    "\n"
    "PID: prints the live per-channel counters of a process running under libtmc_shim.so:\n"
    "one block per matched socket (rule, role, addresses, messages/bytes/packets, retransmissions,\n"
    "drops, RTT). A process in another network namespace is reached by joining it (needs root).\n"
    "--dev IFACE: prints the counters the eBPF classifier keeps on network device IFACE (in the\n"
    "current network namespace), whichever process attached it: one row per (channel, direction)\n"
    "with packets, bytes, malformed and drops; channel \"unknown\" counts malformed packets too\n"
    "short to name one. Needs the privileges to read BPF maps (root, or CAP_BPF + CAP_NET_ADMIN).\n"
    "--prometheus prints the Prometheus text exposition format instead (tmc_shim_* metrics for a\n"
    "PID, tmc_kernel_{packets,bytes,malformed,drops}_total{device,channel,direction} for --dev).\n"
    "Exit status: 0; 1 when PID runs no shim (or has not opened a TMC channel yet), or IFACE does\n"
    "not exist, has no TMC classifier attached, BPF is not permitted, or tmc was built without\n"
    "eBPF; 2 usage.\n";

namespace {

int usage_error(const char* what, const char* arg) {
  std::fprintf(stderr, "tmc stats: %s%s%s%s\n%.*s", what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "",
               static_cast<int>(kStatsUsage.size()), kStatsUsage.data());
  return kExitUsage;
}

// Joins the network namespace of `pid` when it is not ours. Returns false (with a message
// printed) when the namespace cannot be read or joined; true when nothing was needed or it worked.
bool enter_network_namespace_of(long pid) {
  const std::string theirs = "/proc/" + std::to_string(pid) + "/ns/net";
  struct stat their_ns {}, our_ns {};
  if (::stat(theirs.c_str(), &their_ns) != 0) {
    if (errno == ENOENT) return true;  // no such process: connect() reports it
    std::fprintf(stderr, "tmc stats: cannot read %s: %s\n", theirs.c_str(), std::strerror(errno));
    return false;
  }
  if (::stat("/proc/self/ns/net", &our_ns) == 0 && our_ns.st_ino == their_ns.st_ino &&
      our_ns.st_dev == their_ns.st_dev)
    return true;
  const int fd = ::open(theirs.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    std::fprintf(stderr,
                 "tmc stats: process %ld is in another network namespace and joining it failed (%s); its "
                 "statistics socket is only reachable from there (run as root, or with ip netns exec)\n",
                 pid, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  return true;
}

}  // namespace

int run_stats(std::span<char*> args) {
  bool prometheus = false;
  long pid = 0;
  const char* device = nullptr;
  for (std::size_t i = 0; i < args.size(); i++) {
    char* arg = args[i];
    std::string_view text(arg);
    if (text == "--prometheus") {
      prometheus = true;
    } else if (text == "--dev" || text.starts_with("--dev=")) {
      if (device) return usage_error("--dev given twice", nullptr);
      if (text == "--dev") {
        if (i + 1 == args.size()) return usage_error("--dev needs a device name", nullptr);
        device = args[++i];
      } else {
        device = arg + 6;
      }
      if (!*device) return usage_error("--dev needs a device name", nullptr);
    } else if (text.starts_with("-")) {
      return usage_error("unknown option", arg);
    } else {
      if (pid > 0) return usage_error("more than one process id, at", arg);
      char* end = nullptr;
      pid = std::strtol(arg, &end, 10);
      if (!*arg || *end || pid <= 0) return usage_error("not a process id:", arg);
    }
  }
  if (device && pid > 0) return usage_error("give either a PID or --dev IFACE, not both", nullptr);
  if (device) return print_kernel_stats(device, prometheus);
  if (pid <= 0) {
    std::fprintf(stderr, "%.*s", static_cast<int>(kStatsUsage.size()), kStatsUsage.data());
    return kExitUsage;
  }
  if (!enter_network_namespace_of(pid)) return 1;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  socklen_t length = shim::stats_socket_address(static_cast<int>(pid), &address);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
    std::fprintf(stderr, "tmc stats: process %ld serves no shim statistics (%s)\n", pid, std::strerror(errno));
    return 1;
  }
  const char* request = prometheus ? "prometheus\n" : "text\n";
  if (::write(fd, request, std::strlen(request)) < 0) return 1;
  char buffer[4096];
  ssize_t count;
  while ((count = ::read(fd, buffer, sizeof buffer)) > 0) std::fwrite(buffer, 1, static_cast<std::size_t>(count), stdout);
  ::close(fd);
  return 0;
}

}  // namespace tmc::tool
