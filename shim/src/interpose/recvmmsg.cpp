// Interposed recvmmsg(): a bridged stream reports no source addresses.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::FdTable::kManaged), 1)) {
    return TMC_REAL(recvmmsg)(fd, messages, count, flags, timeout);
  }
  return tmc::shim::ops::recvmmsg(fd, messages, count, flags, timeout);
}
