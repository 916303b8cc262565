// Interposed socketpair(): AF_UNIX pairs pass through; pairs the shim or engine creates are marked internal.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int socketpair(int domain, int type, int protocol, int fds[2]) {
  int result = TMC_REAL(socketpair)(domain, type, protocol, fds);
  if (result == 0 && tmc::shim::inside_shim()) {
    tmc::shim::FdTable::mark_internal(fds[0]);
    tmc::shim::FdTable::mark_internal(fds[1]);
  }
  return result;
}
