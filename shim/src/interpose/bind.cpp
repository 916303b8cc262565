// Interposed bind(): a UDP socket bound on a udp-receiver rule's address becomes a bridged
// datagram socket; a tcp-server socket is classified at listen() with the bound address.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int bind(int fd, const sockaddr* address, socklen_t length) {
  if (auto handled = tmc::shim::datagram::bind(fd, address, length)) return *handled;
  return TMC_REAL(bind)(fd, address, length);
}
