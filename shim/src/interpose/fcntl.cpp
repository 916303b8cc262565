// Interposed fcntl(): F_DUPFD/F_DUPFD_CLOEXEC copies carry the shim's state for the fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int fcntl(int fd, int command, ...) {
  va_list arguments;
  va_start(arguments, command);
  long argument = va_arg(arguments, long);  // every fcntl argument fits a long (int or pointer)
  va_end(arguments);
  return tmc::shim::ops::fcntl(fd, command, argument, false);
}
