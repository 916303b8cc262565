#include "tmc/bpf/early_drop.h"

#include <cerrno>
#include <string>
#include <vector>

#include "early_drop.h"
#include "early_drop.skel.h"
#include "loader_support.h"

namespace tmc::bpf {

void EarlyDropLoader::SkeletonDeleter::operator()(tmc_early_drop_bpf* skeleton) const noexcept {
  tmc_early_drop_bpf__destroy(skeleton);
}

EarlyDropLoader::EarlyDropLoader() {
  detail::install_libbpf_logging();
  errno = 0;
  skeleton_.reset(tmc_early_drop_bpf__open_and_load());
  if (!skeleton_) detail::fail("loading the early-drop program", detail::error_from_errno());
}

EarlyDropLoader::~EarlyDropLoader() = default;
EarlyDropLoader::EarlyDropLoader(EarlyDropLoader&&) noexcept = default;
EarlyDropLoader& EarlyDropLoader::operator=(EarlyDropLoader&&) noexcept = default;

void EarlyDropLoader::attach(int ifindex) {
  attachment_.detach();  // first: re-attaching at the same place must not remove the new filter
  attachment_ = TcAttachment(ifindex, Direction::ingress, program_fd(), kEarlyDropPriority, kTcHandle);
}

int EarlyDropLoader::program_fd() const { return bpf_program__fd(skeleton_->progs.tmc_early_drop); }

EarlyDropCounters EarlyDropLoader::counters(uint32_t channel_id) const {
  uint64_t values[4] = {};
  detail::sum_percpu_counters(bpf_map__fd(skeleton_->maps.early_drop_counters), &channel_id,
                              sizeof(tmc_early_drop_counters), values);
  return EarlyDropCounters{values[0], values[1], values[2], values[3]};
}

void EarlyDropLoader::forget_channel(uint32_t channel_id) {
  int fd = bpf_map__fd(skeleton_->maps.sender_state);
  std::vector<tmc_sender_key> doomed;
  tmc_sender_key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    if (next.channel_id == channel_id) doomed.push_back(next);
    key = next;
    previous = &key;
  }
  for (const auto& k : doomed) bpf_map_delete_elem(fd, &k);
}

}  // namespace tmc::bpf
