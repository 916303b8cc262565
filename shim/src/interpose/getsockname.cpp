// Interposed getsockname(): bridged sockets report their INET local address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int getsockname(int fd, sockaddr* address, socklen_t* length) {
  return tmc::shim::ops::getsockname(fd, address, length);
}
