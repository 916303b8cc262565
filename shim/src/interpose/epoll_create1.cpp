// Interposed epoll_create1(): epoll sets the engine creates are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int epoll_create1(int flags) {
  int fd = TMC_REAL(epoll_create1)(flags);
  if (fd >= 0 && tmc::shim::inside_shim()) tmc::shim::FdTable::mark_internal(fd);
  return fd;
}
