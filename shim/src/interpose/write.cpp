// Interposed write(): records message boundaries on send-call sockets; otherwise kernel I/O.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t write(int fd, const void* buffer, size_t count) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kWriteFlags), 1)) return TMC_REAL(write)(fd, buffer, count);
  if (tmc::shim::is_bridged_datagram(fd)) return tmc::shim::datagram::send_buffer(fd, buffer, count, 0, nullptr, 0);
  return tmc::shim::ops::framed_write(fd, count, [&] { return TMC_REAL(write)(fd, buffer, count); });
}
