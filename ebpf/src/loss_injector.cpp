#include "tmc/bpf/loss_injector.h"

#include <cerrno>
#include <cmath>
#include <string>
#include <unistd.h>

#include "loader_support.h"
#include "loss.h"
#include "loss.skel.h"

namespace tmc::bpf {
namespace {

uint64_t fixed_point(double probability, const char* name) {
  if (!(probability >= 0.0 && probability <= 1.0))
    detail::fail(std::string("loss ") + name + " must be within [0, 1], got " + std::to_string(probability), EINVAL);
  return static_cast<uint64_t>(std::llround(probability * static_cast<double>(TMC_LOSS_ONE)));
}

}  // namespace

void LossInjector::SkeletonDeleter::operator()(tmc_loss_bpf* skeleton) const noexcept {
  tmc_loss_bpf__destroy(skeleton);
}

LossInjector::LossInjector(const LossConfig& config) {
  detail::install_libbpf_logging();
  const uint64_t rate = fixed_point(config.rate, "rate");
  if (config.ports.size() > TMC_LOSS_MAX_PORTS)
    detail::fail("at most " + std::to_string(TMC_LOSS_MAX_PORTS) + " loss ports", EINVAL);
  uint64_t good_to_bad = 0, bad_to_good = 0, loss_in_bad = 0;
  if (config.gilbert) {
    good_to_bad = fixed_point(config.gilbert->p_good_to_bad, "Gilbert P(good->bad)");
    bad_to_good = fixed_point(config.gilbert->p_bad_to_good, "Gilbert P(bad->good)");
    loss_in_bad = fixed_point(config.gilbert->loss_in_bad, "Gilbert loss in the bad state");
  }
  errno = 0;
  skeleton_.reset(tmc_loss_bpf__open());
  if (!skeleton_) detail::fail("opening the loss injector", detail::error_from_errno());
  auto* rodata = skeleton_->rodata;
  rodata->loss_rate = rate;
  rodata->gilbert = config.gilbert ? 1 : 0;
  rodata->p_good_to_bad = good_to_bad;
  rodata->p_bad_to_good = bad_to_good;
  rodata->loss_in_bad = loss_in_bad;
  rodata->seed = config.seed;
  rodata->port_count = static_cast<uint32_t>(config.ports.size());
  for (size_t i = 0; i < config.ports.size(); i++) rodata->ports[i] = config.ports[i];
  int result = tmc_loss_bpf__load(skeleton_.get());
  if (result < 0) detail::fail("loading the loss injector", result);
}

LossInjector::~LossInjector() = default;
LossInjector::LossInjector(LossInjector&&) noexcept = default;
LossInjector& LossInjector::operator=(LossInjector&&) noexcept = default;

void LossInjector::attach(int ifindex, Direction direction) {
  attachment_.detach();  // first: re-attaching at the same place must not remove the new filter
  attachment_ = TcAttachment(ifindex, direction, program_fd(), kLossPriority, kTcHandle);
}

int LossInjector::program_fd() const { return bpf_program__fd(skeleton_->progs.tmc_loss); }

namespace {
LossStats read_stats(int map_fd) {
  uint32_t zero = 0;
  uint64_t counters[2] = {};
  detail::sum_percpu_counters(map_fd, &zero, sizeof(tmc_loss_stats), counters);
  return LossStats{counters[0], counters[1]};
}
}  // namespace

LossStats LossInjector::stats() const { return read_stats(bpf_map__fd(skeleton_->maps.loss_stats)); }

void LossInjector::detach_from(int ifindex, Direction direction) {
  TcAttachment::detach_at(ifindex, direction, kLossPriority, kTcHandle);
}

LossStats LossInjector::stats_of(int ifindex, Direction direction) {
  detail::install_libbpf_logging();
  uint32_t prog_id = TcAttachment::program_id_at(ifindex, direction, kLossPriority, kTcHandle);
  if (prog_id == 0) detail::fail("no loss injector attached there", ENOENT);
  int map_fd = detail::map_fd_of_program(prog_id, "loss_stats");
  LossStats stats;
  try {
    stats = read_stats(map_fd);
  } catch (...) {
    close(map_fd);
    throw;
  }
  close(map_fd);
  return stats;
}

}  // namespace tmc::bpf
