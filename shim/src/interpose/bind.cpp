// Interposed bind(): passes through; a tcp-server socket is classified at listen() with the bound address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int bind(int fd, const sockaddr* address, socklen_t length) {
  return TMC_REAL(bind)(fd, address, length);
}
