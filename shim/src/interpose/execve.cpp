// Interposed execve(): keeps LD_PRELOAD and the TMC_* variables when envp dropped them.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(envp, &storage);
  return TMC_REAL(execve)(path, argv, environment.data());
}
