// tmc::bpf::TcAttachment — RAII ownership of one tc (clsact) BPF filter on an interface.
#pragma once

#include <cstdint>

#include "tmc/bpf/error.h"

namespace tmc::bpf {

// Attaches prog_fd as a direct-action cls_bpf filter at (ifindex, direction, priority, handle),
// creating the clsact qdisc when absent and replacing a filter left at the same place by an
// earlier run. The destructor detaches the filter if it still holds our program (never the
// qdisc: other filters may use it; never a filter that replaced ours)
// unless release() was called, in the network namespace it was attached in (it keeps an fd of
// that netns and enters it for the detach when the calling thread is elsewhere). Priorities order the TMC programs on a hook (lower runs first);
// each program returns TC_ACT_UNSPEC for packets it passes, so the next filter still runs.
class TcAttachment {
 public:
  TcAttachment() = default;
  TcAttachment(int ifindex, Direction direction, int prog_fd, uint32_t priority, uint32_t handle);
  ~TcAttachment();
  TcAttachment(TcAttachment&& other) noexcept;
  TcAttachment& operator=(TcAttachment&& other) noexcept;
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  bool attached() const noexcept { return ifindex_ != 0; }
  int ifindex() const noexcept { return ifindex_; }
  // Detaches now; a filter already gone (interface deleted) is not an error.
  void detach() noexcept;
  // Leaves the filter in place after this object dies (the tc filter holds the program).
  void release() noexcept;

  // Removes the filter at (ifindex, direction, priority, handle). Throws Error when none is
  // there (ENOENT) or on failure.
  static void detach_at(int ifindex, Direction direction, uint32_t priority, uint32_t handle);
  // Program id of the filter there, or 0 when none.
  static uint32_t program_id_at(int ifindex, Direction direction, uint32_t priority, uint32_t handle);

 private:
  int ifindex_ = 0;
  Direction direction_ = Direction::ingress;
  uint32_t priority_ = 0;
  uint32_t handle_ = 0;
  uint32_t prog_id_ = 0;  // what we attached: detach only if it is still there
  int netns_fd_ = -1;     // the netns attached in (O_CLOEXEC)
};

// tc places of the TMC programs: one handle, one priority per program (lower runs first).
// Ingress: loss injection first (it models the wire), then classification, then early drop.
// Egress: classification (DSCP/priority are copied into fan-out clones), then fan-out.
inline constexpr uint32_t kTcHandle = 0x544D;  // "TM"
inline constexpr uint32_t kLossPriority = 1;
inline constexpr uint32_t kClassifyPriority = 2;
inline constexpr uint32_t kEarlyDropPriority = 3;
inline constexpr uint32_t kFanoutPriority = 3;

}  // namespace tmc::bpf
