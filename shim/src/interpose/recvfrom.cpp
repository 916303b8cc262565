// Interposed recvfrom(): a bridged stream reports no source address (TCP semantics), never an AF_UNIX one.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* address,
                                       socklen_t* address_length) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::FdTable::kManaged), 1)) {
    return TMC_REAL(recvfrom)(fd, buffer, length, flags, address, address_length);
  }
  return tmc::shim::ops::recvfrom(fd, buffer, length, flags, address, address_length);
}
