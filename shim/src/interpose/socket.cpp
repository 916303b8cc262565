// Interposed socket(): a socket is never classified here (decisions happen at connect/listen); engine sockets are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int socket(int domain, int type, int protocol) {
  return tmc::shim::ops::socket(domain, type, protocol);
}
