// tmc::bpf::FanoutLoader — in-kernel fan-out of one send to every member of a channel
// (bpf/fanout.bpf.c). Contract with the engine (docs/ebpf.md "Fan-out"): after
// set_members(channel, members), the engine sends each group-stream DATA/SEQUENCE packet of
// the channel ONCE, to members[0]'s address:port (IPv4 or IPv6), without TMC_FLAG_RETRANSMIT; the program on the
// egress of the interface that reaches the members emits the copies. Retransmissions,
// ACKs, CONTROL and point-to-point (stream 0) packets stay unicast.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tmc/bpf/error.h"
#include "tmc/bpf/tc_attachment.h"

struct tmc_fanout_bpf;

namespace tmc::bpf {

struct FanoutMember {
  std::array<uint8_t, 4> ipv4{};   // a.b.c.d (when !is_ipv6)
  std::array<uint8_t, 16> ipv6{};  // when is_ipv6
  bool is_ipv6 = false;            // all members of a channel have one family
  uint16_t port = 0;               // host order
  std::array<uint8_t, 6> mac{};    // next hop: the member on a shared L2, else the gateway

  // "10.0.0.2:5000" or "[fd00::2]:5000", and "02:00:00:00:00:02"; Error (EINVAL) on bad text.
  static FanoutMember parse(const std::string& address_port, const std::string& mac);
};

struct FanoutCounters {
  uint64_t fanned_out = 0;   // packets the engine sent once that were fanned out
  uint64_t copies = 0;       // copies emitted (members - 1 per packet)
  uint64_t copy_errors = 0;  // copies that failed
};

inline constexpr size_t kFanoutMaxMembers = 16;

class FanoutLoader {
 public:
  FanoutLoader();
  ~FanoutLoader();
  FanoutLoader(FanoutLoader&&) noexcept;
  FanoutLoader& operator=(FanoutLoader&&) noexcept;

  // Attaches to the egress of ifindex (detached on destruction).
  void attach(int ifindex);
  void detach() noexcept { attachment_.detach(); }

  // 1..kFanoutMaxMembers members of one address family; members[0] is the address the
  // engine sends to. Error (EINVAL) for a mixed list.
  void set_members(uint32_t channel_id, const std::vector<FanoutMember>& members);
  void remove_channel(uint32_t channel_id);
  FanoutCounters counters(uint32_t channel_id) const;

  int program_fd() const;

 private:
  struct SkeletonDeleter {
    void operator()(tmc_fanout_bpf* skeleton) const noexcept;
  };
  std::unique_ptr<tmc_fanout_bpf, SkeletonDeleter> skeleton_;
  TcAttachment attachment_;
};

}  // namespace tmc::bpf
