// Interposed shutdown(): kernel semantics on the AF_UNIX end; the bridge turns SHUT_WR into a channel
// CLOSE. A bridged UDP socket answers as UDP does (ENOTCONN unless connected) and keeps its pair
// open: a SEQPACKET half-close would read as the application closing the socket.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int shutdown(int fd, int how) {
  if (__builtin_expect(tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 0)) {
    if (auto handled = tmc::shim::datagram::shutdown(fd, how)) return *handled;
  }
  return TMC_REAL(shutdown)(fd, how);
}
