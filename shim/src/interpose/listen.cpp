// Interposed listen(): stream sockets matching a tcp-server rule become AF_UNIX listeners fed by the bridge.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int listen(int fd, int backlog) { return tmc::shim::ops::listen(fd, backlog); }
