// Interposed fork(): the child gets a fresh bridge on first use (pthread_atfork hooks in shim_process.cpp);
// connections that existed at fork stay bridged by the parent.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT pid_t fork(void) { return TMC_REAL(fork)(); }
