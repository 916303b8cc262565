// Interposed __recv_chk(): fortified recv().
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags) {
  if (length > buffer_size) tmc::shim::fortify_fail();
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 1)) return TMC_REAL(recv)(fd, buffer, length, flags);
  return tmc::shim::datagram::receive_buffer(fd, buffer, length, flags, nullptr, nullptr);
}
