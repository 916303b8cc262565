// Interposed recv(): kernel I/O on every fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  return TMC_REAL(recv)(fd, buffer, length, flags);
}
