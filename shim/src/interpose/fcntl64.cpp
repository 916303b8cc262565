// Interposed fcntl64(): as fcntl (the symbol _FILE_OFFSET_BITS=64 programs call).
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int fcntl64(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  long argument = va_arg(arguments, long);
  va_end(arguments);
  return tmc::shim::ops::fcntl(fd, command, argument, true);
}
