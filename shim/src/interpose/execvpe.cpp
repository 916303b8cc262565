// Interposed execvpe(): PATH search with LD_PRELOAD kept.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(envp, &storage);
  return TMC_REAL(execvpe)(file, argv, environment.data());
}
