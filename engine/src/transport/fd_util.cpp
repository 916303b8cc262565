#include "transport/fd_util.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tmc::transport {

int engine_fd_floor() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 256;
  // Keep clear of the low numbers applications use and leave room below the limit for our own,
  // but stay below kMaxFloor: the kernel sizes a process's fd table by its highest fd, so a
  // floor near a 1M limit would cost megabytes per process.
  constexpr rlim_t kMaxFloor = 8192;
  const rlim_t top = limit.rlim_cur == RLIM_INFINITY ? kMaxFloor * 2 : limit.rlim_cur;
  return static_cast<int>(std::clamp<rlim_t>(top - top / 4, 16, kMaxFloor));
}

int make_engine_fd(int fd) {
  if (fd < 0) return -1;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, engine_fd_floor());
  if (high < 0) high = fcntl(fd, F_DUPFD_CLOEXEC, 3);  // fd table nearly full: at least CLOEXEC
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return high;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

}  // namespace tmc::transport
