// Per-thread "inside the shim" state. Socket calls made by the shim itself or by the engine
// (channel sockets, eventfds, epoll) must never be classified against the policy: while a
// ShimScope is alive, or on a thread marked as an engine thread, every interposed call
// passes straight through, and fds created are marked internal (fd_table.h).
#pragma once

#include <cerrno>

namespace tmc::shim {

inline thread_local int shim_depth = 0;
inline thread_local bool engine_thread = false;

inline bool inside_shim() { return shim_depth > 0 || engine_thread; }

class ShimScope {
 public:
  ShimScope() { ++shim_depth; }
  ~ShimScope() { --shim_depth; }
  ShimScope(const ShimScope&) = delete;
  ShimScope& operator=(const ShimScope&) = delete;
};

// Restores errno on scope exit unless `keep()` was called (the call's own result errno).
class ErrnoSaver {
 public:
  ErrnoSaver() : saved_(errno) {}
  ~ErrnoSaver() { errno = saved_; }
  void set(int value) { saved_ = value; }

 private:
  int saved_;
};

}  // namespace tmc::shim
