// Interposed eventfd(): eventfds the engine creates are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int eventfd(unsigned initial, int flags) {
  int fd = TMC_REAL(eventfd)(initial, flags);
  if (fd >= 0 && tmc::shim::inside_shim()) tmc::shim::FdTable::mark_internal(fd);
  return fd;
}
