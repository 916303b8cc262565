// Interposed readv(): kernel I/O on every fd; a bridged UDP socket strips the record header.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t readv(int fd, const iovec* vector, int count) {
  if (__builtin_expect(!tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 1)) return TMC_REAL(readv)(fd, vector, count);
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(vector);
  message.msg_iovlen = static_cast<size_t>(count < 0 ? 0 : count);
  return tmc::shim::datagram::receive_message(fd, &message, 0);
}
