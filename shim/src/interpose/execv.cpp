// Interposed execv(): glibc's execv calls execve internally (not through the PLT): keep LD_PRELOAD here.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execv(const char* path, char* const argv[]) {
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(environ, &storage);
  return TMC_REAL(execve)(path, argv, environment.data());
}
