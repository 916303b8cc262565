// Interposed read(): kernel I/O on every fd (bridged sockets are real AF_UNIX sockets); a
// bridged UDP socket strips the record header.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t read(int fd, void* buffer, size_t count) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 1)) return TMC_REAL(read)(fd, buffer, count);
  return tmc::shim::datagram::receive_buffer(fd, buffer, count, 0, nullptr, nullptr);
}
