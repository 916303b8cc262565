// Interposed readv(): kernel I/O on every fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t readv(int fd, const iovec* vector, int count) {
  return TMC_REAL(readv)(fd, vector, count);
}
