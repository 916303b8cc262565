// Interposed execle(): builds argv, takes envp after the NULL, execs with LD_PRELOAD kept.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execle(const char* path, const char* argument, ...) {
  std::vector<char*> argv{const_cast<char*>(argument)};
  va_list arguments;
  va_start(arguments, argument);
  while (argv.back() != nullptr) argv.push_back(va_arg(arguments, char*));
  char* const* envp = va_arg(arguments, char* const*);
  va_end(arguments);
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(envp, &storage);
  return TMC_REAL(execve)(path, argv.data(), environment.data());
}
