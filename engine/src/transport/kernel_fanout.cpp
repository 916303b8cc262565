#include "transport/kernel_fanout.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "tmc/fanout_rule.h"

#ifdef TMC_HAVE_BPF
#include "tmc/bpf/error.h"
#include "tmc/bpf/fanout.h"
#endif

namespace tmc::transport {
namespace {

std::string ipv4_text(const core::SocketAddress& address) {
  char text[INET_ADDRSTRLEN] = {};
  const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
  inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  return text;
}

// The interface the kernel would send to `address` from: the one holding the source address a
// connected UDP socket picks (no packet is sent).
std::string egress_interface(const core::SocketAddress& address) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in local{};
  socklen_t length = sizeof local;
  const bool ok = ::connect(fd, address.raw(), address.length) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0;
  ::close(fd);
  if (!ok) return "";
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string name;
  for (ifaddrs* entry = list; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_INET) continue;
    if (reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr.s_addr == local.sin_addr.s_addr) {
      name = entry->ifa_name;
      break;
    }
  }
  ::freeifaddrs(list);
  return name;
}

}  // namespace

std::uint8_t fanout_gso_class(std::uint32_t channel_id, const core::SocketAddress& first_member,
                              const core::SocketAddress& destination, std::span<const std::byte> packet) {
  if (packet.size() < TMC_COMMON_HEADER_SIZE || destination != first_member) return 0;
  auto byte = [&](std::size_t offset) { return std::to_integer<unsigned>(packet[offset]); };
  auto read16 = [&](std::size_t offset) { return byte(offset) << 8 | byte(offset + 1); };
  auto read32 = [&](std::size_t offset) { return read16(offset) << 16 | read16(offset + 2); };
  if (read16(TMC_OFF_MAGIC) != TMC_MAGIC || byte(TMC_OFF_VERSION) != TMC_VERSION) return 0;
  if (read32(TMC_OFF_CHANNEL_ID) != channel_id) return 0;
  return tmc_fanout_header_eligible(byte(TMC_OFF_TYPE), read16(TMC_OFF_FLAGS), read16(TMC_OFF_STREAM)) ? 1 : 0;
}

std::string neighbour_mac(const core::SocketAddress& address) {
  if (address.family() != AF_INET) return "";
  // /proc/thread-self/net is the calling thread's network namespace (a test may have entered one).
  std::ifstream arp("/proc/thread-self/net/arp");
  std::string line;
  std::getline(arp, line);  // header
  const std::string ip = ipv4_text(address);
  while (std::getline(arp, line)) {
    std::istringstream fields(line);
    std::string entry_ip, hw_type, flags, mac;
    fields >> entry_ip >> hw_type >> flags >> mac;
    if (entry_ip != ip) continue;
    if ((std::stoul(flags, nullptr, 16) & 0x2) == 0 || mac == "00:00:00:00:00:00") return "";  // ATF_COM: complete
    return mac;
  }
  return "";
}

#ifdef TMC_HAVE_BPF

struct KernelFanout::Loader {
  tmc::bpf::FanoutLoader loader;
};

KernelFanout::Result KernelFanout::attach(std::uint32_t channel_id, const std::vector<core::SocketAddress>& members) {
  Result result;
  std::string why;
  if (!tmc::bpf::available(&why)) return {nullptr, Refusal::not_permitted, "BPF is not available here: " + why};
  if (members.empty()) return {nullptr, Refusal::not_ready, "no member addresses yet"};
  if (members.size() > tmc::bpf::kFanoutMaxMembers)
    return {nullptr, Refusal::unsupported,
            "more than " + std::to_string(tmc::bpf::kFanoutMaxMembers) + " members (the fan-out map's limit)"};
  std::vector<tmc::bpf::FanoutMember> map;
  for (const auto& member : members) {
    if (member.family() != AF_INET) return {nullptr, Refusal::unsupported, "IPv6 members are not fanned out yet"};
    const std::string mac = neighbour_mac(member);
    if (mac.empty()) return {nullptr, Refusal::not_ready, "no neighbour entry for " + member.to_string() + " yet"};
    map.push_back(tmc::bpf::FanoutMember::parse(ipv4_text(member) + ":" + std::to_string(member.port()), mac));
  }
  const std::string interface = egress_interface(members[0]);
  const unsigned ifindex = interface.empty() ? 0 : ::if_nametoindex(interface.c_str());
  if (ifindex == 0) return {nullptr, Refusal::unsupported, "no interface reaches " + members[0].to_string()};
  if (interface == "lo") return {nullptr, Refusal::unsupported, "members are on loopback (no L2 to clone onto)"};
  try {
    std::unique_ptr<KernelFanout> fanout(new KernelFanout());
    fanout->loader_ = std::make_unique<Loader>();
    fanout->loader_->loader.attach(static_cast<int>(ifindex));
    fanout->loader_->loader.set_members(channel_id, map);
    fanout->channel_id_ = channel_id;
    fanout->interface_ = interface;
    result.fanout = std::move(fanout);
    return result;
  } catch (const tmc::bpf::Error& error) {
    return {nullptr, error.not_permitted() ? Refusal::not_permitted : Refusal::unsupported, error.what()};
  }
}

KernelFanout::~KernelFanout() {
  if (loader_) {
    try {
      loader_->loader.remove_channel(channel_id_);
    } catch (...) {
    }
  }
}

std::uint64_t KernelFanout::packets_fanned_out() const {
  try {
    return loader_->loader.counters(channel_id_).fanned_out;
  } catch (...) {
    return 0;
  }
}

#else  // built without tmc_bpf

struct KernelFanout::Loader {};

KernelFanout::Result KernelFanout::attach(std::uint32_t, const std::vector<core::SocketAddress>&) {
  return {nullptr, Refusal::not_permitted, "this libtmc was built without the eBPF programs (tmc_bpf)"};
}
KernelFanout::~KernelFanout() = default;
std::uint64_t KernelFanout::packets_fanned_out() const { return 0; }

#endif

}  // namespace tmc::transport
