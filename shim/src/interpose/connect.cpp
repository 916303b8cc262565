// Interposed connect(): stream sockets matching a tcp-client rule become bridged AF_UNIX sockets.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int connect(int fd, const sockaddr* address, socklen_t length) {
  return tmc::shim::ops::connect(fd, address, length);
}
