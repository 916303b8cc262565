// Interposed pipe2(): pipes the engine creates are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int pipe2(int fds[2], int flags) {
  int result = TMC_REAL(pipe2)(fds, flags);
  if (result == 0 && tmc::shim::inside_shim()) {
    tmc::shim::FdTable::mark_internal(fds[0]);
    tmc::shim::FdTable::mark_internal(fds[1]);
  }
  return result;
}
