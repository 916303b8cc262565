// Interposed getpeername(): bridged sockets report the TMC peer's INET address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int getpeername(int fd, sockaddr* address, socklen_t* length) {
  return tmc::shim::ops::getpeername(fd, address, length);
}
