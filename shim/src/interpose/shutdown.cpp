// Interposed shutdown(): kernel semantics on the AF_UNIX end; the bridge turns SHUT_WR into a channel CLOSE.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int shutdown(int fd, int how) { return TMC_REAL(shutdown)(fd, how); }
