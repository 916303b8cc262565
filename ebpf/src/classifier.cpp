#include "tmc/bpf/classifier.h"

#include <cerrno>
#include <string>
#include <unistd.h>

#include "classify.h"
#include "classify.skel.h"
#include "loader_support.h"

namespace tmc::bpf {

void ClassifierLoader::SkeletonDeleter::operator()(tmc_classify_bpf* skeleton) const noexcept {
  tmc_classify_bpf__destroy(skeleton);
}

ClassifierLoader::ClassifierLoader() {
  detail::install_libbpf_logging();
  errno = 0;
  skeleton_.reset(tmc_classify_bpf__open_and_load());
  if (!skeleton_) detail::fail("loading the classifier", detail::error_from_errno());
}

ClassifierLoader::~ClassifierLoader() = default;
ClassifierLoader::ClassifierLoader(ClassifierLoader&&) noexcept = default;
ClassifierLoader& ClassifierLoader::operator=(ClassifierLoader&&) noexcept = default;

void ClassifierLoader::attach(int ifindex) {
  detach();  // first: re-attaching at the same place must not remove the new filters
  TcAttachment ingress(ifindex, Direction::ingress, program_fd(Direction::ingress), kClassifyPriority, kTcHandle);
  TcAttachment egress(ifindex, Direction::egress, program_fd(Direction::egress), kClassifyPriority, kTcHandle);
  ingress_ = std::move(ingress);
  egress_ = std::move(egress);
}

void ClassifierLoader::detach() noexcept {
  ingress_.detach();
  egress_.detach();
}

int ClassifierLoader::program_fd(Direction direction) const {
  return bpf_program__fd(direction == Direction::ingress ? skeleton_->progs.tmc_classify_ingress
                                                         : skeleton_->progs.tmc_classify_egress);
}

void ClassifierLoader::set_channel_class(uint32_t channel_id, const ChannelClass& channel_class) {
  tmc_channel_class value{};
  if (channel_class.priority) {
    value.flags |= TMC_CLASS_SET_PRIORITY;
    value.priority = *channel_class.priority;
  }
  if (channel_class.dscp) {
    if (*channel_class.dscp > 63) detail::fail("DSCP must be 0..63, got " + std::to_string(*channel_class.dscp), EINVAL);
    value.flags |= TMC_CLASS_SET_DSCP;
    value.dscp = *channel_class.dscp;
  }
  if (channel_class.drop) value.flags |= TMC_CLASS_DROP;
  if (bpf_map__update_elem(skeleton_->maps.channel_classes, &channel_id, sizeof channel_id, &value, sizeof value,
                           BPF_ANY) != 0)
    detail::fail("setting the class of channel " + std::to_string(channel_id), errno);
}

void ClassifierLoader::clear_channel_class(uint32_t channel_id) {
  if (bpf_map__delete_elem(skeleton_->maps.channel_classes, &channel_id, sizeof channel_id, 0) != 0 && errno != ENOENT)
    detail::fail("clearing the class of channel " + std::to_string(channel_id), errno);
}

namespace {
DirectionCounters read_direction(int map_fd, uint32_t channel_id, uint32_t direction) {
  tmc_counter_key key{channel_id, direction};
  uint64_t values[4] = {};
  detail::sum_percpu_counters(map_fd, &key, sizeof(tmc_channel_counters), values);
  return DirectionCounters{values[0], values[1], values[2], values[3]};
}
}  // namespace

ChannelCounters ClassifierLoader::counters(uint32_t channel_id) const {
  int fd = bpf_map__fd(skeleton_->maps.channel_counters);
  return ChannelCounters{read_direction(fd, channel_id, TMC_DIRECTION_INGRESS),
                         read_direction(fd, channel_id, TMC_DIRECTION_EGRESS)};
}

namespace {
std::map<uint32_t, ChannelCounters> read_all(int fd) {
  std::map<uint32_t, ChannelCounters> result;
  tmc_counter_key key{}, next{};
  const void* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &next) == 0) {
    auto& counters = result[next.channel_id];
    (next.direction == TMC_DIRECTION_INGRESS ? counters.ingress : counters.egress) =
        read_direction(fd, next.channel_id, next.direction);
    key = next;
    previous = &key;
  }
  return result;
}
}  // namespace

std::map<uint32_t, ChannelCounters> ClassifierLoader::all_counters() const {
  return read_all(bpf_map__fd(skeleton_->maps.channel_counters));
}

std::map<uint32_t, ChannelCounters> ClassifierLoader::counters_on(int ifindex) {
  detail::install_libbpf_logging();
  // Both directions' programs share the map; either one leads to it.
  uint32_t prog_id = TcAttachment::program_id_at(ifindex, Direction::ingress, kClassifyPriority, kTcHandle);
  if (prog_id == 0) prog_id = TcAttachment::program_id_at(ifindex, Direction::egress, kClassifyPriority, kTcHandle);
  if (prog_id == 0) detail::fail("no TMC classifier attached to ifindex " + std::to_string(ifindex), ENOENT);
  int fd = detail::map_fd_of_program(prog_id, "channel_counters");
  try {
    auto result = read_all(fd);
    close(fd);
    return result;
  } catch (...) {
    close(fd);
    throw;
  }
}

}  // namespace tmc::bpf
