// Interposed recv(): kernel I/O on every fd; a bridged UDP socket strips the record header.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 1)) return TMC_REAL(recv)(fd, buffer, length, flags);
  return tmc::shim::datagram::receive_buffer(fd, buffer, length, flags, nullptr, nullptr);
}
