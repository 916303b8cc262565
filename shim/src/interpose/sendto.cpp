// Interposed sendto(): a bridged stream ignores the destination, as TCP does.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* address,
                                     socklen_t address_length) {
  if (__builtin_expect(tmc::shim::plain_send(fd), 1)) {
    return TMC_REAL(sendto)(fd, buffer, length, flags, address, address_length);
  }
  return tmc::shim::ops::sendto(fd, buffer, length, flags, address, address_length);
}
