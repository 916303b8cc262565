// Interposed execvp(): PATH search with LD_PRELOAD kept.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execvp(const char* file, char* const argv[]) {
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(environ, &storage);
  return TMC_REAL(execvpe)(file, argv, environment.data());
}
