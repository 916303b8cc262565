// KernelFanout: the engine's side of the eBPF fan-out contract (docs/ebpf.md "Fan-out"). It
// attaches ebpf/'s tc egress program (tmc::bpf::FanoutLoader) on the interface that reaches the
// channel's members and fills its member map; the channel core then sends each group-stream
// packet once, to members[0], and the kernel emits one copy per member.
//
// Runs on the application thread that creates or changes the channel, so the interface and the
// neighbour table are those of the channel's network namespace. Members must be IPv4 hosts on a
// shared L2 with a resolved neighbour entry (their MAC is the next hop written into the copies).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/socket_address.h"

namespace tmc::transport {

class KernelFanout {
 public:
  enum class Refusal {
    none,
    not_permitted,  // BPF cannot run here (privilege, kernel support) or this build has no tmc_bpf: final
    not_ready,      // a member's neighbour entry is not resolved yet, or an address is unknown: try later
    unsupported,    // IPv6, more than 16 members, no interface reaches the members: final
  };
  struct Result {
    std::unique_ptr<KernelFanout> fanout;  // set on success
    Refusal refusal = Refusal::none;
    std::string why;  // one line for the log
  };

  // members[0] is the address the engine sends each group packet to.
  static Result attach(std::uint32_t channel_id, const std::vector<core::SocketAddress>& members);
  ~KernelFanout();

  std::uint64_t packets_fanned_out() const;  // group packets the program cloned
  const std::string& interface_name() const { return interface_; }

 private:
  KernelFanout() = default;
  struct Loader;
  std::unique_ptr<Loader> loader_;
  std::uint32_t channel_id_ = 0;
  std::string interface_;
};

// The UDP GSO class (UdpSocket::set_gso_class) of a datagram a channel with the eBPF fan-out
// attached sends: 1 when the tc program fans it out — by the rule in tmc/fanout_rule.h, which
// ebpf/bpf/fanout.bpf.c applies too: a TMC packet (magic, version) of `channel_id`, group-stream
// DATA or SEQUENCE without TMC_FLAG_RETRANSMIT, sent to `first_member` — else 0. The program
// judges a super-packet by its first TMC header, so super-packets must be of one class.
std::uint8_t fanout_gso_class(std::uint32_t channel_id, const core::SocketAddress& first_member,
                              const core::SocketAddress& destination, std::span<const std::byte> packet);

// IPv4 neighbour (ARP) entry of `address` in the calling thread's network namespace, as
// "aa:bb:cc:dd:ee:ff"; "" when there is none or it is incomplete.
std::string neighbour_mac(const core::SocketAddress& address);

}  // namespace tmc::transport
