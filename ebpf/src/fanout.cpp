#include "tmc/bpf/fanout.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "fanout.h"
#include "fanout.skel.h"
#include "loader_support.h"

static_assert(tmc::bpf::kFanoutMaxMembers == TMC_FANOUT_MAX_MEMBERS);

namespace tmc::bpf {

FanoutMember FanoutMember::parse(const std::string& address_port, const std::string& mac) {
  FanoutMember member;
  auto colon = address_port.rfind(':');
  if (colon == std::string::npos)
    detail::fail("fan-out member '" + address_port + "' is not IPV4:PORT or [IPV6]:PORT", EINVAL);
  if (address_port[0] == '[') {
    if (colon < 2 || address_port[colon - 1] != ']')
      detail::fail("fan-out member '" + address_port + "' is not [IPV6]:PORT", EINVAL);
    if (inet_pton(AF_INET6, address_port.substr(1, colon - 2).c_str(), member.ipv6.data()) != 1)
      detail::fail("fan-out member '" + address_port + "': bad IPv6 address", EINVAL);
    member.is_ipv6 = true;
  } else {
    in_addr address{};
    if (inet_pton(AF_INET, address_port.substr(0, colon).c_str(), &address) != 1)
      detail::fail("fan-out member '" + address_port + "': bad IPv4 address", EINVAL);
    std::memcpy(member.ipv4.data(), &address, 4);
  }
  const std::string port = address_port.substr(colon + 1);
  char* end = nullptr;
  unsigned long value = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value == 0 || value > 65535)
    detail::fail("fan-out member '" + address_port + "': bad port", EINVAL);
  member.port = static_cast<uint16_t>(value);
  unsigned bytes[6];
  char trailing;
  if (std::sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &bytes[0], &bytes[1], &bytes[2], &bytes[3], &bytes[4],
                  &bytes[5], &trailing) != 6)
    detail::fail("fan-out member MAC '" + mac + "' is not xx:xx:xx:xx:xx:xx", EINVAL);
  for (int i = 0; i < 6; i++) member.mac[i] = static_cast<uint8_t>(bytes[i]);
  return member;
}

void FanoutLoader::SkeletonDeleter::operator()(tmc_fanout_bpf* skeleton) const noexcept {
  tmc_fanout_bpf__destroy(skeleton);
}

FanoutLoader::FanoutLoader() {
  detail::install_libbpf_logging();
  errno = 0;
  skeleton_.reset(tmc_fanout_bpf__open_and_load());
  if (!skeleton_) detail::fail("loading the fan-out program", detail::error_from_errno());
}

FanoutLoader::~FanoutLoader() = default;
FanoutLoader::FanoutLoader(FanoutLoader&&) noexcept = default;
FanoutLoader& FanoutLoader::operator=(FanoutLoader&&) noexcept = default;

void FanoutLoader::attach(int ifindex) {
  attachment_.detach();  // first: re-attaching at the same place must not remove the new filter
  attachment_ = TcAttachment(ifindex, Direction::egress, program_fd(), kFanoutPriority, kTcHandle);
}

int FanoutLoader::program_fd() const { return bpf_program__fd(skeleton_->progs.tmc_fanout); }

void FanoutLoader::set_members(uint32_t channel_id, const std::vector<FanoutMember>& members) {
  if (members.empty() || members.size() > TMC_FANOUT_MAX_MEMBERS)
    detail::fail("fan-out channel " + std::to_string(channel_id) + " needs 1.." +
                     std::to_string(TMC_FANOUT_MAX_MEMBERS) + " members, got " + std::to_string(members.size()),
                 EINVAL);
  tmc_fanout_channel value{};
  value.count = static_cast<uint32_t>(members.size());
  for (size_t i = 0; i < members.size(); i++) {
    if (members[i].is_ipv6 != members[0].is_ipv6)
      detail::fail("fan-out channel " + std::to_string(channel_id) + " mixes IPv4 and IPv6 members", EINVAL);
    value.members[i].family = members[i].is_ipv6 ? 6 : 4;
    std::memcpy(&value.members[i].ipv4, members[i].ipv4.data(), 4);
    std::memcpy(value.members[i].ipv6, members[i].ipv6.data(), 16);
    value.members[i].port = htons(members[i].port);
    std::memcpy(value.members[i].mac, members[i].mac.data(), 6);
  }
  if (bpf_map__update_elem(skeleton_->maps.fanout_channels, &channel_id, sizeof channel_id, &value, sizeof value,
                           BPF_ANY) != 0)
    detail::fail("setting the members of fan-out channel " + std::to_string(channel_id), errno);
}

void FanoutLoader::remove_channel(uint32_t channel_id) {
  if (bpf_map__delete_elem(skeleton_->maps.fanout_channels, &channel_id, sizeof channel_id, 0) != 0 && errno != ENOENT)
    detail::fail("removing fan-out channel " + std::to_string(channel_id), errno);
}

FanoutCounters FanoutLoader::counters(uint32_t channel_id) const {
  uint64_t values[3] = {};
  detail::sum_percpu_counters(bpf_map__fd(skeleton_->maps.fanout_counters), &channel_id,
                              sizeof(tmc_fanout_counters), values);
  return FanoutCounters{values[0], values[1], values[2]};
}

}  // namespace tmc::bpf
