// Interposed accept4(): on a bridged listener, reports the TMC peer's INET address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int accept4(int fd, sockaddr* address, socklen_t* length, int flags) {
  return tmc::shim::ops::accept4(fd, address, length, flags);
}
