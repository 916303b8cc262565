// Interposed setsockopt(): TCP/IP-level options on bridged sockets are remembered and succeed.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  return tmc::shim::ops::setsockopt(fd, level, name, value, length);
}
