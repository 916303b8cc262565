// tmc::bpf::LossInjector — random packet loss on an interface (bpf/loss.bpf.c), used by the
// harness (through tmc-loss) and the tests because this kernel has no netem.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tmc/bpf/error.h"
#include "tmc/bpf/tc_attachment.h"

struct tmc_loss_bpf;

namespace tmc::bpf {

struct LossConfig {
  // Two-state Gilbert–Elliott model: per eligible packet the state moves good->bad with
  // p_good_to_bad (bad->good with p_bad_to_good), then the packet is lost with `rate` in the
  // good state and with loss_in_bad in the bad state.
  struct Gilbert {
    double p_good_to_bad = 0;
    double p_bad_to_good = 1;
    double loss_in_bad = 1;
  };
  double rate = 0;              // loss probability, [0, 1]
  uint64_t seed = 0;            // 0: random; else each CPU's stream derives from it
  std::vector<uint16_t> ports;  // empty: every IP packet; else only UDP/TCP with src or dst listed (<= 16)
  std::optional<Gilbert> gilbert;
};

struct LossStats {
  uint64_t seen = 0;     // packets eligible for loss
  uint64_t dropped = 0;  // of those, dropped
};

class LossInjector {
 public:
  // Validates `config` (Error with EINVAL on a probability outside [0,1] or too many ports)
  // and loads the program. Nothing is attached yet.
  explicit LossInjector(const LossConfig& config);
  ~LossInjector();
  LossInjector(LossInjector&&) noexcept;
  LossInjector& operator=(LossInjector&&) noexcept;

  // Attaches to tc INGRESS (the direction that drops reliably; docs/ebpf.md) of ifindex,
  // detaching on destruction.
  void attach(int ifindex, Direction direction = Direction::ingress);
  void detach() noexcept { attachment_.detach(); }
  // Leaves the filter in place when this object dies (tmc-loss attach).
  void keep_attached() noexcept { attachment_.release(); }

  LossStats stats() const;
  int program_fd() const;

  // Operations on a filter left by keep_attached() (by another process): its place is fixed.
  static void detach_from(int ifindex, Direction direction = Direction::ingress);
  static LossStats stats_of(int ifindex, Direction direction = Direction::ingress);

 private:
  struct SkeletonDeleter {
    void operator()(tmc_loss_bpf* skeleton) const noexcept;
  };
  std::unique_ptr<tmc_loss_bpf, SkeletonDeleter> skeleton_;
  TcAttachment attachment_;
};

}  // namespace tmc::bpf
