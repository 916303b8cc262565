// The libc functions the shim interposes, resolved with dlsym(RTLD_NEXT) once per process.
//
// Contract: real::NAME is callable from any thread at any time. The pointers are resolved by
// the library constructor; a call that arrives earlier (another library's constructor)
// resolves them under pthread_once. A thread already inside dlsym (which may malloc and so
// re-enter) gets the raw-syscall fallbacks in real.cpp instead of deadlocking.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdarg>

namespace tmc::shim::real {

// X(name, return type, parameter list)
#define TMC_SHIM_REAL_SYMBOLS(X)                                                                   \
  X(socket, int, (int, int, int))                                                                  \
  X(socketpair, int, (int, int, int, int*))                                                        \
  X(connect, int, (int, const sockaddr*, socklen_t))                                               \
  X(bind, int, (int, const sockaddr*, socklen_t))                                                  \
  X(listen, int, (int, int))                                                                       \
  X(accept, int, (int, sockaddr*, socklen_t*))                                                     \
  X(accept4, int, (int, sockaddr*, socklen_t*, int))                                               \
  X(shutdown, int, (int, int))                                                                     \
  X(close, int, (int))                                                                             \
  X(close_range, int, (unsigned, unsigned, int))                                                   \
  X(read, ssize_t, (int, void*, size_t))                                                           \
  X(write, ssize_t, (int, const void*, size_t))                                                    \
  X(readv, ssize_t, (int, const iovec*, int))                                                      \
  X(writev, ssize_t, (int, const iovec*, int))                                                     \
  X(send, ssize_t, (int, const void*, size_t, int))                                                \
  X(sendto, ssize_t, (int, const void*, size_t, int, const sockaddr*, socklen_t))                  \
  X(sendmsg, ssize_t, (int, const msghdr*, int))                                                   \
  X(sendmmsg, int, (int, mmsghdr*, unsigned, int))                                                 \
  X(recv, ssize_t, (int, void*, size_t, int))                                                      \
  X(recvfrom, ssize_t, (int, void*, size_t, int, sockaddr*, socklen_t*))                           \
  X(recvmsg, ssize_t, (int, msghdr*, int))                                                         \
  X(recvmmsg, int, (int, mmsghdr*, unsigned, int, timespec*))                                      \
  X(getsockopt, int, (int, int, int, void*, socklen_t*))                                           \
  X(setsockopt, int, (int, int, int, const void*, socklen_t))                                      \
  X(getsockname, int, (int, sockaddr*, socklen_t*))                                                \
  X(getpeername, int, (int, sockaddr*, socklen_t*))                                                \
  X(fcntl, int, (int, int, ...))                                                                   \
  X(fcntl64, int, (int, int, ...))                                                                 \
  X(ioctl, int, (int, unsigned long, ...))                                                         \
  X(dup, int, (int))                                                                               \
  X(dup2, int, (int, int))                                                                         \
  X(dup3, int, (int, int, int))                                                                    \
  X(fork, pid_t, (void))                                                                           \
  X(daemon, int, (int, int))                                                                       \
  X(execve, int, (const char*, char* const[], char* const[]))                                      \
  X(execvpe, int, (const char*, char* const[], char* const[]))                                     \
  X(fexecve, int, (int, char* const[], char* const[]))                                             \
  X(epoll_create1, int, (int))                                                                     \
  X(eventfd, int, (unsigned, int))                                                                 \
  X(timerfd_create, int, (int, int))                                                               \
  X(pipe2, int, (int*, int))

#define TMC_SHIM_DECLARE_REAL(name, ret, params) \
  using name##_fn = ret(*) params;               \
  extern name##_fn name;
TMC_SHIM_REAL_SYMBOLS(TMC_SHIM_DECLARE_REAL)
#undef TMC_SHIM_DECLARE_REAL

// Resolves every pointer (idempotent, thread-safe).
void resolve();

}  // namespace tmc::shim::real

// Hot-path accessor: resolves on first use. Usage: TMC_REAL(send)(fd, buf, n, flags).
#define TMC_REAL(name) \
  (__builtin_expect(::tmc::shim::real::name != nullptr, 1) ? ::tmc::shim::real::name : (::tmc::shim::real::resolve(), ::tmc::shim::real::name))
