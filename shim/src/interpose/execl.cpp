// Interposed execl(): builds argv and execs with LD_PRELOAD kept.
#include "interpose/interpose.h"

extern "C" TMC_EXPORT int execl(const char* path, const char* argument, ...) {
  std::vector<char*> argv{const_cast<char*>(argument)};
  va_list arguments;
  va_start(arguments, argument);
  while (argv.back() != nullptr) argv.push_back(va_arg(arguments, char*));
  va_end(arguments);
  std::vector<std::string> storage;
  auto environment = tmc::shim::ops::exec_environment(environ, &storage);
  return TMC_REAL(execve)(path, argv.data(), environment.data());
}
