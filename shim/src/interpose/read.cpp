// Interposed read(): kernel I/O on every fd (bridged sockets are real AF_UNIX sockets).
#include "interpose/interpose.h"

extern "C" TMC_EXPORT ssize_t read(int fd, void* buffer, size_t count) { return TMC_REAL(read)(fd, buffer, count); }
