// Interposed send(): records message boundaries on send-call sockets; otherwise kernel I/O.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kWriteFlags), 1)) return TMC_REAL(send)(fd, buffer, length, flags);
  if (tmc::shim::is_bridged_datagram(fd)) return tmc::shim::datagram::send_buffer(fd, buffer, length, flags, nullptr, 0);
  return tmc::shim::ops::framed_write(fd, length, [&] { return TMC_REAL(send)(fd, buffer, length, flags); });
}
