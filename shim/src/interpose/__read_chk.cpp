// Interposed __read_chk(): fortified read().
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t __read_chk(int fd, void* buffer, size_t count, size_t buffer_size) {
  if (count > buffer_size) tmc::shim::fortify_fail();
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 1)) return TMC_REAL(read)(fd, buffer, count);
  return tmc::shim::datagram::receive_buffer(fd, buffer, count, 0, nullptr, nullptr);
}
