// Interposed dup2(): the copy shares the shim's state; refuses to replace an engine fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int dup2(int from, int to) { return tmc::shim::ops::dup3(from, to, 0, true); }
