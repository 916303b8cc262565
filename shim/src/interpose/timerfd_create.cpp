// Interposed timerfd_create(): timerfds the engine creates are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int timerfd_create(int clock, int flags) {
  int fd = TMC_REAL(timerfd_create)(clock, flags);
  if (fd >= 0 && tmc::shim::inside_shim()) tmc::shim::FdTable::mark_internal(fd);
  return fd;
}
