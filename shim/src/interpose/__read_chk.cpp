// Interposed __read_chk(): _FORTIFY_SOURCE read().
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t __read_chk(int fd, void* buffer, size_t count, size_t buffer_size) {
  if (count > buffer_size) tmc::shim::fortify_fail();
  return TMC_REAL(read)(fd, buffer, count);
}
