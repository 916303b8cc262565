// Interposed __recvfrom_chk(): _FORTIFY_SOURCE recvfrom().
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags,
                                             sockaddr* address, socklen_t* address_length) {
  if (length > buffer_size) tmc::shim::fortify_fail();
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::FdTable::kManaged), 1)) {
    return TMC_REAL(recvfrom)(fd, buffer, length, flags, address, address_length);
  }
  return tmc::shim::ops::recvfrom(fd, buffer, length, flags, address, address_length);
}
