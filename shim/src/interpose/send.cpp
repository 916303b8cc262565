// Interposed send(): on a bridged connection the bytes go straight to the channel when they may
// (ops::direct_send); otherwise kernel I/O, recording message boundaries on send-call sockets.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kWriteFlags), 1)) return TMC_REAL(send)(fd, buffer, length, flags);
  if (tmc::shim::is_bridged_datagram(fd)) return tmc::shim::datagram::send_buffer(fd, buffer, length, flags, nullptr, 0);
  iovec data{const_cast<void*>(buffer), length};
  if (tmc::shim::ops::direct_send(fd, &data, 1, flags)) return static_cast<ssize_t>(length);
  if (!tmc::shim::needs_shim(fd, tmc::shim::kFramedWriteFlags)) return TMC_REAL(send)(fd, buffer, length, flags);
  return tmc::shim::ops::framed_write(fd, length, [&] { return TMC_REAL(send)(fd, buffer, length, flags); });
}
