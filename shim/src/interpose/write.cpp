// Interposed write(): on a bridged connection the bytes go straight to the channel when they may
// (ops::direct_send); otherwise kernel I/O, recording message boundaries on send-call sockets.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t write(int fd, const void* buffer, size_t count) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kWriteFlags), 1)) return TMC_REAL(write)(fd, buffer, count);
  if (tmc::shim::is_bridged_datagram(fd)) return tmc::shim::datagram::send_buffer(fd, buffer, count, 0, nullptr, 0);
  iovec data{const_cast<void*>(buffer), count};
  if (tmc::shim::ops::direct_send(fd, &data, 1, 0)) return static_cast<ssize_t>(count);
  if (!tmc::shim::needs_shim(fd, tmc::shim::kFramedWriteFlags)) return TMC_REAL(write)(fd, buffer, count);
  return tmc::shim::ops::framed_write(fd, count, [&] { return TMC_REAL(write)(fd, buffer, count); });
}
