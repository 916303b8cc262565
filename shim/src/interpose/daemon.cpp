// Interposed daemon(): glibc's daemon() forks through the atfork hooks; its dup2 onto 0-2 bypasses
// the PLT, so those fds are forgotten here.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int daemon(int keep_directory, int keep_streams) {
  int result = TMC_REAL(daemon)(keep_directory, keep_streams);
  if (result == 0 && !keep_streams) {
    for (int fd = 0; fd <= 2; ++fd) tmc::shim::FdTable::clear(fd);
  }
  return result;
}
