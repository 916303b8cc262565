#include "core/real.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace tmc::shim::real {

#define TMC_SHIM_DEFINE_REAL(name, ret, params) name##_fn name = nullptr;
TMC_SHIM_REAL_SYMBOLS(TMC_SHIM_DEFINE_REAL)
#undef TMC_SHIM_DEFINE_REAL

namespace {

pthread_once_t once = PTHREAD_ONCE_INIT;
thread_local bool resolving = false;

// Raw-syscall stand-ins used while this thread is inside dlsym (re-entry) or when a symbol
// is missing from the C library. They cover the calls dlsym/malloc may make; the others
// fail with ENOSYS.
ssize_t fallback_read(int fd, void* buffer, size_t count) { return ::syscall(SYS_read, fd, buffer, count); }
ssize_t fallback_write(int fd, const void* buffer, size_t count) { return ::syscall(SYS_write, fd, buffer, count); }
int fallback_close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }
int fallback_fcntl(int fd, int command, ...) {
  va_list args;
  va_start(args, command);
  long argument = va_arg(args, long);
  va_end(args);
  return static_cast<int>(::syscall(SYS_fcntl, fd, command, argument));
}
int fallback_close_range(unsigned first, unsigned last, int flags) {
  return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

void resolve_all() {
  resolving = true;
#define TMC_SHIM_RESOLVE(name, ret, params) \
  if (auto found = reinterpret_cast<name##_fn>(::dlsym(RTLD_NEXT, #name))) name = found;
  TMC_SHIM_REAL_SYMBOLS(TMC_SHIM_RESOLVE)
#undef TMC_SHIM_RESOLVE
  if (!fcntl64) fcntl64 = fcntl;
  resolving = false;
}

}  // namespace

void resolve() {
  if (resolving) {
    // Re-entered from dlsym on this thread: minimal raw-syscall versions keep it going.
    if (!read) read = fallback_read;
    if (!write) write = fallback_write;
    if (!close) close = fallback_close;
    if (!fcntl) fcntl = fallback_fcntl;
    if (!fcntl64) fcntl64 = fallback_fcntl;
    if (!close_range) close_range = fallback_close_range;
    return;
  }
  ::pthread_once(&once, resolve_all);
}

}  // namespace tmc::shim::real
