// `tmc stats PID`: reads the live counters a shimmed process serves on its stats socket
// (abstract AF_UNIX "@tmc-stats-PID", see shim/src/core/stats_server.h).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "command.h"
#include "core/stats_protocol.h"

namespace tmc::tool {

const std::string_view kStatsUsage =
    "usage: tmc stats [--prometheus] PID\n"
    "\n"
    "Prints the live per-channel counters of a process running under libtmc_shim.so:\n"
    "one block per matched socket (rule, role, addresses, messages/bytes/packets, retransmissions,\n"
    "drops, RTT). --prometheus prints the Prometheus text exposition format instead.\n"
    "Exit status: 0, 1 when PID runs no shim (or has not opened a TMC channel yet), 2 usage.\n";

int run_stats(std::span<char*> args) {
  bool prometheus = false;
  long pid = 0;
  for (char* arg : args) {
    std::string_view text(arg);
    if (text == "--prometheus") {
      prometheus = true;
    } else {
      char* end = nullptr;
      pid = std::strtol(arg, &end, 10);
      if (!*arg || *end || pid <= 0) {
        std::fprintf(stderr, "tmc stats: '%s' is not a process id\n%.*s", arg, static_cast<int>(kStatsUsage.size()),
                     kStatsUsage.data());
        return kExitUsage;
      }
    }
  }
  if (pid <= 0) {
    std::fprintf(stderr, "%.*s", static_cast<int>(kStatsUsage.size()), kStatsUsage.data());
    return kExitUsage;
  }
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
