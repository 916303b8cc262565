// Interposed close(): forgets managed fds; refuses (EBADF) to close the engine's internal fds.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int close(int fd) {
  if (__builtin_expect(tmc::shim::FdTable::flags(fd) == 0, 1)) return TMC_REAL(close)(fd);
  return tmc::shim::ops::close(fd);
}
