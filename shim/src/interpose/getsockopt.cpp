// Interposed getsockopt(): SO_DOMAIN/SO_TYPE/SO_PROTOCOL/SO_ERROR and TCP-level options answer as for TCP.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int getsockopt(int fd, int level, int name, void* value, socklen_t* length) {
  return tmc::shim::ops::getsockopt(fd, level, name, value, length);
}
