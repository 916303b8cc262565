// tmc::bpf::EarlyDropLoader — drops duplicate and stale packets of fifo-drop-stale channels
// on ingress before they wake user space (bpf/early_drop.bpf.c).
#pragma once

#include <cstdint>
#include <memory>

#include "tmc/bpf/error.h"
#include "tmc/bpf/tc_attachment.h"

struct tmc_early_drop_bpf;

namespace tmc::bpf {

struct EarlyDropCounters {
  uint64_t passed = 0;      // drop-stale DATA packets passed to user space
  uint64_t duplicates = 0;  // dropped: a fragment of the newest message that already arrived
  uint64_t stale = 0;       // dropped: an older message or older sender epoch
  uint64_t malformed = 0;   // TMC magic, invalid header: passed on to user space
};

class EarlyDropLoader {
 public:
  EarlyDropLoader();
  ~EarlyDropLoader();
  EarlyDropLoader(EarlyDropLoader&&) noexcept;
  EarlyDropLoader& operator=(EarlyDropLoader&&) noexcept;

  // Attaches to the ingress of ifindex (detached on destruction).
  void attach(int ifindex);
  void detach() noexcept { attachment_.detach(); }

  EarlyDropCounters counters(uint32_t channel_id) const;
  // Forgets every sender of the channel (e.g. when the channel is closed and reopened).
  void forget_channel(uint32_t channel_id);

  int program_fd() const;

 private:
  struct SkeletonDeleter {
    void operator()(tmc_early_drop_bpf* skeleton) const noexcept;
  };
  std::unique_ptr<tmc_early_drop_bpf, SkeletonDeleter> skeleton_;
  TcAttachment attachment_;
};

}  // namespace tmc::bpf
