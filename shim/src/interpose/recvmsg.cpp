// Interposed recvmsg(): a bridged stream reports no source address (TCP semantics); SCM_RIGHTS keeps working.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t recvmsg(int fd, msghdr* message, int flags) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::FdTable::kManaged), 1)) {
    return TMC_REAL(recvmsg)(fd, message, flags);
  }
  return tmc::shim::ops::recvmsg(fd, message, flags);
}
