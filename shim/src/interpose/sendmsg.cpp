// Interposed sendmsg(): a bridged stream ignores msg_name, as TCP does; records send-call boundaries.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  if (__builtin_expect(tmc::shim::plain_send(fd), 1)) {
    return TMC_REAL(sendmsg)(fd, message, flags);
  }
  return tmc::shim::ops::sendmsg(fd, message, flags);
}
