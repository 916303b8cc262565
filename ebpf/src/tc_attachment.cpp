#include "tmc/bpf/tc_attachment.h"

#include <bpf/libbpf.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "loader_support.h"

namespace tmc::bpf {
namespace {

bpf_tc_hook make_hook(int ifindex, Direction direction) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = direction == Direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  return hook;
}

bpf_tc_opts make_opts(uint32_t priority, uint32_t handle) {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = handle;
  opts.priority = priority;
  return opts;
}

std::string place(int ifindex, Direction direction) {
  return std::string(direction == Direction::ingress ? "ingress" : "egress") + " of ifindex " +
         std::to_string(ifindex);
}

int open_current_netns() { return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC); }

// The kept netns fd lives as long as the attachment, inside applications (via the shim): move
// it to a high number, clear of the low fds applications use (as the engine's own fds).
int move_high(int fd) {
  if (fd < 0) return fd;
  rlimit limit{};
  rlim_t top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? limit.rlim_cur : 16384;
  int floor = static_cast<int>(std::clamp<rlim_t>(top - top / 4, 16, 8192));
  int high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
  if (high < 0) return fd;
  close(fd);
  return high;
}

bool same_file(int a, int b) {
  struct stat sa{}, sb{};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

TcAttachment::TcAttachment(int ifindex, Direction direction, int prog_fd, uint32_t priority, uint32_t handle) {
  detail::install_libbpf_logging();
  if (ifindex <= 0) detail::fail("attaching a tc program: no such interface", ENODEV);
  bpf_tc_hook hook = make_hook(ifindex, direction);
  int result = bpf_tc_hook_create(&hook);
  if (result < 0 && result != -EEXIST) detail::fail("creating the clsact qdisc on " + place(ifindex, direction), result);
  bpf_tc_opts opts = make_opts(priority, handle);
  opts.prog_fd = prog_fd;
  opts.flags = BPF_TC_F_REPLACE;
  result = bpf_tc_attach(&hook, &opts);
  if (result < 0) detail::fail("attaching a tc program to " + place(ifindex, direction), result);
  ifindex_ = ifindex;
  direction_ = direction;
  priority_ = priority;
  handle_ = handle;
  prog_id_ = opts.prog_id;
  netns_fd_ = move_high(open_current_netns());
}

TcAttachment::~TcAttachment() { detach(); }

TcAttachment::TcAttachment(TcAttachment&& other) noexcept
    : ifindex_(other.ifindex_),
      direction_(other.direction_),
      priority_(other.priority_),
      handle_(other.handle_),
      prog_id_(other.prog_id_),
      netns_fd_(other.netns_fd_) {
  other.ifindex_ = 0;
  other.netns_fd_ = -1;
}

TcAttachment& TcAttachment::operator=(TcAttachment&& other) noexcept {
  if (this != &other) {
    detach();
    ifindex_ = other.ifindex_;
    direction_ = other.direction_;
    priority_ = other.priority_;
    handle_ = other.handle_;
    prog_id_ = other.prog_id_;
    netns_fd_ = other.netns_fd_;
    other.ifindex_ = 0;
    other.netns_fd_ = -1;
  }
  return *this;
}

void TcAttachment::release() noexcept {
  ifindex_ = 0;
  if (netns_fd_ >= 0) close(netns_fd_);
  netns_fd_ = -1;
}

void TcAttachment::detach() noexcept {
  if (ifindex_ == 0) return;
  // tc is per network namespace: detach where we attached, even if this thread moved.
  int current = -1;
  bool entered = false;
  if (netns_fd_ >= 0) {
    current = open_current_netns();
    if (current >= 0 && !same_file(current, netns_fd_)) entered = setns(netns_fd_, CLONE_NEWNET) == 0;
  }
  // Unknown current netns (cannot open it): do not risk detaching in a foreign namespace.
  if (netns_fd_ < 0 || entered || (current >= 0 && same_file(current, netns_fd_))) {
    // Only our own program: a later attach at the same place (another loader, or tmc-loss
    // attach again) replaced it, and that filter is not ours to remove.
    bpf_tc_hook hook = make_hook(ifindex_, direction_);
    bpf_tc_opts query = make_opts(priority_, handle_);
    if (bpf_tc_query(&hook, &query) == 0 && query.prog_id == prog_id_) {
      bpf_tc_opts opts = make_opts(priority_, handle_);
      bpf_tc_detach(&hook, &opts);  // ENOENT/ENODEV: already gone with its interface or netns
    }
  }
  if (entered) setns(current, CLONE_NEWNET);
  if (current >= 0) close(current);
  release();
}

void TcAttachment::detach_at(int ifindex, Direction direction, uint32_t priority, uint32_t handle) {
  detail::install_libbpf_logging();
  if (ifindex <= 0) detail::fail("detaching a tc program: no such interface", ENODEV);
  if (program_id_at(ifindex, direction, priority, handle) == 0)
    detail::fail("no TMC tc program on the " + place(ifindex, direction), ENOENT);
  bpf_tc_hook hook = make_hook(ifindex, direction);
  bpf_tc_opts opts = make_opts(priority, handle);
  int result = bpf_tc_detach(&hook, &opts);
  if (result < 0) detail::fail("detaching the tc program from " + place(ifindex, direction), result);
}

uint32_t TcAttachment::program_id_at(int ifindex, Direction direction, uint32_t priority, uint32_t handle) {
  detail::install_libbpf_logging();
  if (ifindex <= 0) detail::fail("querying tc: no such interface", ENODEV);
  bpf_tc_hook hook = make_hook(ifindex, direction);
  bpf_tc_opts opts = make_opts(priority, handle);
  int result = bpf_tc_query(&hook, &opts);
  if (result == -ENOENT || result == -EINVAL) return 0;
  if (result < 0) detail::fail("querying the tc filter on " + place(ifindex, direction), result);
  return opts.prog_id;
}

}  // namespace tmc::bpf
