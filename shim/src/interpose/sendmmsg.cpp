// Interposed sendmmsg(): on a bridged stream, one sendmsg per entry (each a message under send-call).
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags) {
  if (__builtin_expect(tmc::shim::plain_send(fd), 1)) {
    return TMC_REAL(sendmmsg)(fd, messages, count, flags);
  }
  return tmc::shim::ops::sendmmsg(fd, messages, count, flags);
}
