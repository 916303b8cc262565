// Interposed accept(): on a bridged listener, reports the TMC peer's INET address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int accept(int fd, sockaddr* address, socklen_t* length) {
  if (!tmc::shim::needs_shim(fd, tmc::shim::FdTable::kManaged)) return TMC_REAL(accept)(fd, address, length);
  return tmc::shim::ops::accept4(fd, address, length, 0);
}
