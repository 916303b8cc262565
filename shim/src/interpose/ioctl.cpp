// Interposed ioctl(): kernel semantics (FIONREAD, FIONBIO... work on the AF_UNIX end).
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list arguments;
  va_start(arguments, request);
  void* argument = va_arg(arguments, void*);
  va_end(arguments);
  return TMC_REAL(ioctl)(fd, request, argument);
}
