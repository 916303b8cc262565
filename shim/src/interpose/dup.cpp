// Interposed dup(): the copy shares the shim's state for the fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int dup(int fd) { return tmc::shim::ops::dup(fd); }
