// Where a shimmed process serves its statistics: abstract AF_UNIX stream socket
// "@tmc-stats-<pid>". A client writes "text\n" or "prometheus\n" and reads until EOF.
#pragma once

#include <sys/un.h>

#include <cstdio>
#include <cstring>
#include <cstddef>

namespace tmc::shim {

inline socklen_t stats_socket_address(int pid, sockaddr_un* address) {
  std::memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  int length = std::snprintf(address->sun_path + 1, sizeof address->sun_path - 1, "tmc-stats-%d", pid);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
}

}  // namespace tmc::shim
