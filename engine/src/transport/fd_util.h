// File descriptors the engine owns: close-on-exec and moved to high numbers, so they neither
// leak into exec'd programs nor take the low numbers applications (and the shim) expect to get
// from socket()/open().
#pragma once

namespace tmc::transport {

// Lowest number engine fds are moved to (bounded by RLIMIT_NOFILE).
int engine_fd_floor();
// Moves `fd` (closing the original) to a number >= engine_fd_floor() with FD_CLOEXEC set.
// Returns the new fd, or -1 with errno set (the original is closed either way).
int make_engine_fd(int fd);

// RAII owner of one fd.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace tmc::transport
