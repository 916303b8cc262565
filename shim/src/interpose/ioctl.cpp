// Interposed ioctl(): kernel semantics (FIONREAD, FIONBIO... work on the AF_UNIX end).
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list arguments;
  va_start(arguments, request);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  if (__builtin_expect(tmc::shim::needs_shim(fd, tmc::shim::kDatagramFlag), 0)) {
    if (auto handled = tmc::shim::datagram::ioctl(fd, request, argument)) return *handled;  // FIONREAD
  }
  return TMC_REAL(ioctl)(fd, request, argument);
}
