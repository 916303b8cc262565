// Interposed dup3(): the copy shares the shim's state; refuses to replace an engine fd.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int dup3(int from, int to, int flags) { return tmc::shim::ops::dup3(from, to, flags, false); }
