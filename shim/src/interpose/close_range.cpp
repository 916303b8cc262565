// Interposed close_range(): skips the engine's internal fds, forgets managed ones.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  return tmc::shim::ops::close_range(first, last, flags);
}
