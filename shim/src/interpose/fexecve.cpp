// Interposed fexecve(): keeps LD_PRELOAD and the TMC_* variables.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(envp, &storage);
  return TMC_REAL(fexecve)(fd, argv, environment.data());
}
