// Interposed __recv_chk(): _FORTIFY_SOURCE recv().
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags) {
  if (length > buffer_size) tmc::shim::fortify_fail();
  return TMC_REAL(recv)(fd, buffer, length, flags);
}
