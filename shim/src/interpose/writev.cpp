// Interposed writev(): on a bridged connection the bytes go straight to the channel when they may
// (ops::direct_send); otherwise kernel I/O, recording message boundaries on send-call sockets.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t writev(int fd, const iovec* vector, int count) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kWriteFlags), 1)) return TMC_REAL(writev)(fd, vector, count);
  if (tmc::shim::is_bridged_datagram(fd)) {
    msghdr message{};
    message.msg_iov = const_cast<iovec*>(vector);
    message.msg_iovlen = static_cast<size_t>(count < 0 ? 0 : count);
    return tmc::shim::datagram::send_message(fd, &message, 0);
  }
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += vector[i].iov_len;
  if (count <= IOV_MAX && tmc::shim::ops::direct_send(fd, vector, count, 0)) return static_cast<ssize_t>(total);
  if (!tmc::shim::needs_shim(fd, tmc::shim::kFramedWriteFlags)) return TMC_REAL(writev)(fd, vector, count);
  return tmc::shim::ops::framed_write(fd, total, [&] { return TMC_REAL(writev)(fd, vector, count); });
}
