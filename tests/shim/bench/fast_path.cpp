// The shim's added cost on an unmanaged fd, without the system call: the real interposers
// (shim/src/interpose/{send,fcntl,getsockopt,close}.cpp, linked into this program) run with
// their "real" libc pointers replaced by no-op functions, and are timed against calling those
// no-ops directly through a function pointer (what a program without the shim pays).
//   shim_fast_path [ITERATIONS]
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/real.h"

namespace {
__attribute__((noinline)) ssize_t noop_send(int, const void*, size_t, int) { return 0; }
__attribute__((noinline)) int noop_fcntl(int, int, ...) { return 0; }
__attribute__((noinline)) int noop_getsockopt(int, int, int, void*, socklen_t*) { return 0; }
__attribute__((noinline)) int noop_close(int) { return 0; }

template <typename F>
double best_ns_per_call(long iterations, F&& call) {
  double best = 1e18;
  for (int round = 0; round < 15; ++round) {
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; ++i) call(i);
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / iterations;
    if (ns < best) best = ns;
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 2000000;
  tmc::shim::real::resolve();
  tmc::shim::real::send = noop_send;
  tmc::shim::real::fcntl = noop_fcntl;
  tmc::shim::real::getsockopt = noop_getsockopt;
  tmc::shim::real::close = noop_close;
  // Direct calls through volatile pointers: the baseline an unshimmed program pays (PLT-like).
  ssize_t (*volatile direct_send)(int, const void*, size_t, int) = noop_send;
  int (*volatile direct_fcntl)(int, int, ...) = noop_fcntl;
  int (*volatile direct_getsockopt)(int, int, int, void*, socklen_t*) = noop_getsockopt;
  int (*volatile direct_close)(int) = noop_close;
  ssize_t (*volatile shim_send)(int, const void*, size_t, int) = ::send;
  int (*volatile shim_fcntl)(int, int, ...) = ::fcntl;
  int (*volatile shim_getsockopt)(int, int, int, void*, socklen_t*) = ::getsockopt;
  int (*volatile shim_close)(int) = ::close;
  int type = 0;
  socklen_t length = sizeof type;
  struct Row {
    const char* name;
    double shim, direct;
  } rows[] = {
      {"send", best_ns_per_call(iterations, [&](long i) { shim_send(static_cast<int>(i & 255), "", 0, 0); }),
       best_ns_per_call(iterations, [&](long i) { direct_send(static_cast<int>(i & 255), "", 0, 0); })},
      {"fcntl", best_ns_per_call(iterations, [&](long i) { shim_fcntl(static_cast<int>(i & 255), F_GETFD); }),
       best_ns_per_call(iterations, [&](long i) { direct_fcntl(static_cast<int>(i & 255), F_GETFD); })},
      {"getsockopt",
       best_ns_per_call(iterations, [&](long i) { shim_getsockopt(static_cast<int>(i & 255), SOL_SOCKET, SO_TYPE, &type, &length); }),
       best_ns_per_call(iterations, [&](long i) { direct_getsockopt(static_cast<int>(i & 255), SOL_SOCKET, SO_TYPE, &type, &length); })},
      {"close", best_ns_per_call(iterations, [&](long i) { shim_close(static_cast<int>(1000 + (i & 255))); }),
       best_ns_per_call(iterations, [&](long i) { direct_close(static_cast<int>(1000 + (i & 255))); })},
  };
  for (const auto& row : rows) {
    std::printf("%-10s through the shim %6.2f ns, direct %6.2f ns, added %+5.2f ns (goal <= 10 ns)\n", row.name, row.shim,
                row.direct, row.shim - row.direct);
  }
  return 0;
}
